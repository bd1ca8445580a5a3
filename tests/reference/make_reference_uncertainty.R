# Reference quasi-variances for btfit's tests, computed with R's qvcalc on a BradleyTerry2
# fit, and a cross-check of the robust and cluster-robust references with R's sandwich.
#
# Run from the repository root, after make_reference_uncertainty.py:
#
#     Rscript tests/reference/make_reference_uncertainty.R
#
# Writes tests/data/ref_qv_baseball.csv (item,quasi_var,quasi_se): the quasi-variances of
# Firth and de Menezes (2004) for the unpenalized Bradley-Terry fit of baseball.csv, from
# qvcalc(BTabilities(BTm(...))). qvcalc fits them by a glm with its default convergence
# tolerance (relative deviance change 1e-8); the stored values come from the same glm rerun
# with epsilon = 1e-15, so that they are the exact least-squares solution
#   minimize sum_{i<j} (log(q_i + q_j) - log Var(s_i - s_j))^2
# to full precision. The script prints how far qvcalc's default answer is from it, and checks
# the solution with an independent Gauss-Newton written out below.
#
# Cross-checks (the script stops on failure): the ref_robust_*.csv and ref_cluster_*.csv files
# written by make_reference_uncertainty.py equal sandwich::vcovHC(type = "HC0") and
# sandwich::vcovCL(type = "HC1", cadjust = TRUE), i.e. G/(G-1) * (N-1)/(N-K), on glm fits of
# the data expanded to one row per unit of weight, to 1e-8 relative.

suppressPackageStartupMessages({
  library(BradleyTerry2)
  library(qvcalc)
  library(sandwich)
})

data_dir <- file.path("tests", "data")
cat(R.version.string, "\n")
for (p in c("BradleyTerry2", "qvcalc", "sandwich"))
  cat(p, as.character(packageVersion(p)), "\n")

check <- function(cond, what) {
  if (!isTRUE(cond)) stop(paste("CROSS-CHECK FAILED:", what))
  cat("  ok:", what, "\n")
}
rel <- function(a, b) max(abs(a - b) / pmax(abs(b), 1e-300))
tight <- glm.control(epsilon = 1e-15, maxit = 200)
# glm's final working weights (the bread that sandwich uses) are those of the iteration before
# the last: refit from the converged coefficients so that they are taken at the optimum.
glm_at_optimum <- function(...) {
  m <- glm(..., control = tight)
  glm(..., control = tight, start = coef(m))
}

bb <- read.csv(file.path(data_dir, "baseball.csv"), check.names = FALSE)
items <- sort(unique(c(bb$winner, bb$loser)))
n <- length(items)
center <- diag(n) - matrix(1 / n, n, n)

# ---- Quasi-variances -------------------------------------------------------------------------
cat("1. ref_qv_baseball.csv\n")
rep_rows <- rep(seq_len(nrow(bb)), bb$count)
games <- data.frame(winner = factor(bb$winner[rep_rows], levels = items),
                    loser = factor(bb$loser[rep_rows], levels = items))
fit <- BTm(outcome = rep(1, nrow(games)), player1 = winner, player2 = loser, data = games,
           control = tight)
abil <- BTabilities(fit)
s <- as.vector(center %*% abil[, "ability"])
ref <- read.csv(file.path(data_dir, "ref_bt_baseball.csv"), check.names = FALSE)
check(rel(s, ref$strength[match(items, ref$item)]) < 1e-10,
      "BTm strengths (centred) equal ref_bt_baseball.csv")
vc <- vcov(abil)
check(rel(sqrt(diag(center %*% vc %*% center)), ref$se[match(items, ref$item)]) < 1e-9,
      "BTm covariance (centred) gives the SEs of ref_bt_baseball.csv")

qv_default <- qvcalc(abil)$qvframe$quasiVar
qv_tight_fun <- qvcalc:::qvcalc.default
body(qv_tight_fun) <- parse(text = sub("glm(response ~ 0 + level, family = expLinear)",
                                       "glm(response ~ 0 + level, family = expLinear, control = glm.control(epsilon = 1e-15, maxit = 200))",
                                       paste(deparse(body(qv_tight_fun)), collapse = "\n"), fixed = TRUE))[[1]]
check(any(grepl("epsilon = 1e-15", deparse(body(qv_tight_fun)))), "qvcalc's glm call rerun with epsilon = 1e-15")
qv <- qv_tight_fun(vc)$qvframe$quasiVar
cat(sprintf("  qvcalc with its default tolerance differs from the tight solution by %.2e (relative)\n",
            rel(qv_default, qv)))
check(rel(qv_default, qv) < 1e-4, "qvcalc's default answer is within 1e-4 of the tight one")

# Independent check: Gauss-Newton on the least-squares criterion, from the centred covariance.
V <- center %*% vc %*% center
pairs <- t(combn(n, 2))
logv <- log(V[pairs] * 0 + diag(V)[pairs[, 1]] + diag(V)[pairs[, 2]] - 2 * V[pairs])
q <- rep(mean(diag(V)), n)
for (it in 1:200) {
  fitted <- q[pairs[, 1]] + q[pairs[, 2]]
  r <- log(fitted) - logv
  J <- matrix(0, nrow(pairs), n)
  J[cbind(seq_len(nrow(pairs)), pairs[, 1])] <- 1 / fitted
  J[cbind(seq_len(nrow(pairs)), pairs[, 2])] <- 1 / fitted
  step <- solve(crossprod(J), crossprod(J, r))
  q <- q - as.vector(step)
  if (max(abs(step) / q) < 1e-15) break
}
check(rel(q, qv) < 1e-10, "an independent Gauss-Newton gives the same quasi-variances (1e-10)")
check(max(abs(crossprod(J, log(q[pairs[, 1]] + q[pairs[, 2]]) - logv))) < 1e-10,
      "the least-squares gradient vanishes")
out <- data.frame(item = items, quasi_var = qv, quasi_se = sqrt(qv))
write.csv(format(out, digits = 17), file.path(data_dir, "ref_qv_baseball.csv"), row.names = FALSE, quote = FALSE)
cat("  wrote", file.path(data_dir, "ref_qv_baseball.csv"), "\n")

# ---- Sandwich cross-checks -------------------------------------------------------------------
bt_design <- function(w, l) {
  X <- matrix(0, length(w), n)
  X[cbind(seq_along(w), match(w, items))] <- 1
  X[cbind(seq_along(l), match(l, items))] <- X[cbind(seq_along(l), match(l, items))] - 1
  X
}
read_ref <- function(name) read.csv(file.path(data_dir, name), check.names = FALSE)

cat("2. BT robust and cluster SEs (sandwich on the expanded games)\n")
X <- bt_design(bb$winner[rep_rows], bb$loser[rep_rows])
y <- rep(1, nrow(X))
m <- glm_at_optimum(y ~ 0 + X[, -1], family = binomial)
E <- rbind(0, diag(n - 1))
se_hc0 <- sqrt(diag(center %*% E %*% vcovHC(m, type = "HC0") %*% t(E) %*% center))
check(rel(se_hc0, read_ref("ref_robust_bt_baseball.csv")$robust_se) < 1e-8,
      "vcovHC(HC0) equals ref_robust_bt_baseball.csv")
bc <- read.csv(file.path(data_dir, "baseball_cluster.csv"), check.names = FALSE)
cl <- bc$cluster[rep_rows]
se_cl <- sqrt(diag(center %*% E %*% vcovCL(m, cluster = cl, type = "HC1", cadjust = TRUE) %*% t(E) %*% center))
check(rel(se_cl, read_ref("ref_cluster_bt_baseball.csv")$cluster_se) < 1e-8,
      "vcovCL(HC1, cadjust) equals ref_cluster_bt_baseball.csv")

cat("3. BT with home advantage, HC0\n")
gm <- read.csv(file.path(data_dir, "baseball_games.csv"), check.names = FALSE)
Xh <- cbind(bt_design(gm$home, gm$away), 1)
mh <- glm_at_optimum(gm$outcome ~ 0 + Xh[, -1], family = binomial)
Eh <- rbind(0, diag(n))
Ch <- diag(n + 1)
Ch[1:n, 1:n] <- center
se_h <- sqrt(diag(Ch %*% Eh %*% vcovHC(mh, type = "HC0") %*% t(Eh) %*% t(Ch)))
check(rel(se_h, read_ref("ref_robust_bt_baseball_home.csv")$robust_se) < 1e-8,
      "vcovHC(HC0) equals ref_robust_bt_baseball_home.csv")

cat("4. Logistic regression on Pima\n")
pc <- read.csv(file.path(data_dir, "pima_cluster.csv"), check.names = FALSE)
feats <- c("npreg", "glu", "bp", "skin", "bmi", "ped", "age")
for (weighted in c(FALSE, TRUE)) {
  reps <- if (weighted) rep(seq_len(nrow(pc)), pc$w) else seq_len(nrow(pc))
  d <- pc[reps, c(feats, "y", "cluster")]
  ml <- glm_at_optimum(reformulate(feats, "y"), family = binomial, data = d)
  tag <- if (weighted) "_weighted" else ""
  check(rel(sqrt(diag(vcovHC(ml, type = "HC0"))), read_ref(paste0("ref_robust_logistic_pima", tag, ".csv"))$robust_se) < 1e-8,
        paste0("vcovHC(HC0) equals ref_robust_logistic_pima", tag, ".csv"))
  check(rel(sqrt(diag(vcovCL(ml, cluster = d$cluster, type = "HC1", cadjust = TRUE))),
            read_ref(paste0("ref_cluster_logistic_pima", tag, ".csv"))$cluster_se) < 1e-8,
        paste0("vcovCL(HC1, cadjust) equals ref_cluster_logistic_pima", tag, ".csv"))
}
cat("all cross-checks passed\n")
