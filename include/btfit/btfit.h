// btfit: Bradley-Terry and logistic regression fits on the CPU and the GPU.
// The umbrella header of the public API.
#pragma once

#include "btfit/aggregate.h"
#include "btfit/data.h"
#include "btfit/error.h"
#include "btfit/fit.h"
#include "btfit/io.h"
#include "btfit/model.h"
#include "btfit/objective.h"
#include "btfit/optimize.h"
#include "btfit/options.h"
#include "btfit/simulate.h"
#include "btfit/uncertainty.h"
#include "btfit/version.h"
