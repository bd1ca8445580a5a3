#pragma once
#define BTFIT_VERSION "0.1.0"
