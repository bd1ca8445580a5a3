# Reference Firth (Jeffreys-prior penalized) estimates and standard errors for btfit's tests,
# computed with R's brglm2 (Kosmidis and Firth 2021), type = "AS_mean": Firth's (1993) mean
# bias reduction, which for the canonical logit link maximizes
#     l(theta) + (1/2) log det I(theta),   I = X^T diag(w p (1 - p)) X.
# Standard errors are brglm2's: sqrt(diag(I^-1)) at the estimate (the unpenalized likelihood's
# expected information).
#
# Run from the repository root:
#
#     Rscript tests/reference/make_reference_firth.R
#
# Reads tests/data/{baseball.csv, baseball_games.csv, pima_tr.csv, pima_weighted.csv} and writes
# into tests/data/:
#
#   baseball_undefeated.csv      baseball.csv without the rows where Milwaukee lost
#                                (Milwaukee never loses: no finite maximum-likelihood estimate)
#   pima_separable.csv           the rows of pima_tr.csv with (y = 0 and glu < 125) or
#                                (y = 1 and glu >= 125): glu separates the labels completely
#   ref_firth_logistic_pima.csv            term,estimate,se   y ~ all seven features
#   ref_firth_logistic_pima_weighted.csv   term,estimate,se   the same with frequency weights w
#   ref_firth_logistic_pima_separable.csv  term,estimate,se   y ~ glu + bmi on the separable rows
#   ref_firth_bt_baseball.csv              item,strength,se   Bradley-Terry, reference Baltimore
#   ref_firth_bt_baseball_undefeated.csv   item,strength,se   the same on baseball_undefeated.csv
#   ref_firth_bt_baseball_home.csv         item,strength,se   game by game with a home advantage
#                                                             (last row "(home)"), reference Baltimore
#
# Bradley-Terry fits are glm(..., family = binomial, method = "brglmFit") on the design
# x_k = e_winner - e_loser (home: e_home - e_away plus a column of ones) with Baltimore's column
# dropped, no intercept, counts as weights: strengths are s_i - s_Baltimore (Baltimore 0, SE 0).
#
# Cross-checks (the script stops on failure):
#   - the brglm2 estimate is polished by Newton steps on the adjusted score written out below
#     (not brglm2's code); estimates agree to 1e-9 and the adjusted score is below 1e-9;
#   - the adjusted score equals the numerical gradient of the penalized log-likelihood above;
#   - brglm2's type = "MPL_Jeffreys" (maximizing the penalized likelihood directly) agrees to 1e-7;
#   - Bradley-Terry: BradleyTerry2::BTm(..., br = TRUE) (through the older brglm package) agrees
#     to 1e-6; the baseball_games tallies equal baseball.csv.
# Numbers are written with 17 significant digits (they read back to the same double).

suppressPackageStartupMessages({
  library(brglm2)
  library(BradleyTerry2)
})

data_dir <- file.path("tests", "data")
cat(R.version.string, "\n")
for (p in c("brglm2", "BradleyTerry2", "brglm")) cat(p, as.character(packageVersion(p)), "\n")

check <- function(cond, what) {
  if (!isTRUE(cond)) stop(paste("CROSS-CHECK FAILED:", what))
  cat("  ok:", what, "\n")
}
rel <- function(a, b) max(abs(a - b) / pmax(1, abs(b)))
num <- function(x) sprintf("%.17g", x)
control <- brglmControl(type = "AS_mean", epsilon = 1e-13, maxit = 1000)

# The penalized log-likelihood and its gradient (the adjusted score), written out.
penalized_loglik <- function(beta, X, y, w) {
  eta <- drop(X %*% beta)
  p <- plogis(eta)
  info <- crossprod(X * (w * p * (1 - p)), X)
  sum(w * (y * eta - (pmax(eta, 0) + log1p(exp(-abs(eta)))))) +
    0.5 * as.numeric(determinant(info, logarithm = TRUE)$modulus)
}
adjusted_score <- function(beta, X, y, w) {
  eta <- drop(X %*% beta)
  p <- plogis(eta)
  v <- w * p * (1 - p)
  info <- crossprod(X * v, X)
  inv <- solve(info)
  h <- v * rowSums((X %*% inv) * X)  # hat values
  list(score = drop(crossprod(X, w * (y - p) + h * (0.5 - p))), info = info, inv = inv)
}
polish <- function(beta, X, y, w) {
  for (it in 1:50) {
    a <- adjusted_score(beta, X, y, w)
    step <- drop(a$inv %*% a$score)
    beta <- beta + step
    if (max(abs(step)) < 1e-15 * max(1, max(abs(beta)))) break
  }
  beta
}

# Fits y ~ 0 + X with brglm2, cross-checks, and returns estimate and se.
firth_fit <- function(X, y, w, label) {
  cat(label, "\n")
  fit <- glm(y ~ 0 + X, family = binomial, weights = w, method = "brglmFit", control = control)
  check(fit$converged, "brglm2 converged")
  beta <- unname(coef(fit))
  se <- unname(sqrt(diag(summary(fit)$cov.unscaled)))
  polished <- polish(beta, X, y, w)
  check(rel(beta, polished) < 1e-9, "own Newton on the adjusted score agrees with brglm2 (1e-9)")
  a <- adjusted_score(polished, X, y, w)
  check(max(abs(a$score)) < 1e-9, "adjusted score at the estimate below 1e-9")
  check(rel(se, sqrt(diag(a$inv))) < 1e-9, "SE = sqrt(diag(I^-1)) at the estimate (1e-9)")
  # The adjusted score is the gradient of the penalized log-likelihood (central differences).
  numeric <- sapply(seq_along(beta), function(j) {
    d <- 1e-4 / sqrt(mean(X[, j]^2))
    e <- replace(numeric(length(beta)), j, d)
    (penalized_loglik(beta + e, X, y, w) - penalized_loglik(beta - e, X, y, w)) / (2 * d)
  })
  a0 <- adjusted_score(beta, X, y, w)
  cat("  largest |numerical - analytic| adjusted score:", max(abs(numeric - a0$score)), "\n")
  check(max(abs(numeric - a0$score)) < 1e-5,
        "adjusted score = numerical gradient of l + (1/2) log det I")
  jeffreys <- glm(y ~ 0 + X, family = binomial, weights = w, method = "brglmFit",
                  control = brglmControl(type = "MPL_Jeffreys", epsilon = 1e-13, maxit = 1000))
  check(rel(unname(coef(jeffreys)), polished) < 1e-7, "brglm2 MPL_Jeffreys agrees (1e-7)")
  list(estimate = polished, se = unname(sqrt(diag(a$inv))), names = colnames(X))
}

write_table <- function(file, header, names, estimate, se) {
  path <- file.path(data_dir, file)
  lines <- c(paste(header, collapse = ","), paste(names, num(estimate), num(se), sep = ","))
  writeLines(lines, path)
  cat("  wrote", path, "\n")
}

# ---- logistic regression on Pima ----------------------------------------------------------
pima <- read.csv(file.path(data_dir, "pima_tr.csv"))
features <- c("npreg", "glu", "bp", "skin", "bmi", "ped", "age")
X <- cbind("(intercept)" = 1, as.matrix(pima[, features]))
r <- firth_fit(X, pima$y, rep(1, nrow(pima)), "Firth logistic, pima_tr.csv")
write_table("ref_firth_logistic_pima.csv", c("term", "estimate", "se"), r$names, r$estimate, r$se)

pw <- read.csv(file.path(data_dir, "pima_weighted.csv"))
Xw <- cbind("(intercept)" = 1, as.matrix(pw[, features]))
r <- firth_fit(Xw, pw$y, pw$w, "Firth logistic, pima_weighted.csv (frequency weights w)")
expanded <- pw[rep(seq_len(nrow(pw)), pw$w), ]
Xe <- cbind("(intercept)" = 1, as.matrix(expanded[, features]))
e <- firth_fit(Xe, expanded$y, rep(1, nrow(expanded)), "  the same expanded to one row per unit of weight")
check(rel(r$estimate, e$estimate) < 1e-9 && rel(r$se, e$se) < 1e-9, "weights = replicated rows")
write_table("ref_firth_logistic_pima_weighted.csv", c("term", "estimate", "se"), r$names, r$estimate, r$se)

separable <- pima[(pima$y == 0 & pima$glu < 125) | (pima$y == 1 & pima$glu >= 125), ]
write.csv(separable, file.path(data_dir, "pima_separable.csv"), row.names = FALSE, quote = FALSE)
cat("  wrote", file.path(data_dir, "pima_separable.csv"), "(", nrow(separable), "rows )\n")
ml <- suppressWarnings(glm(y ~ glu + bmi, family = binomial, data = separable,
                           control = glm.control(maxit = 100)))
check(max(abs(coef(ml))) > 5 || !ml$converged || max(fitted(ml)) > 1 - 1e-8,
      "maximum likelihood diverges on the separable rows")
Xs <- cbind("(intercept)" = 1, as.matrix(separable[, c("glu", "bmi")]))
r <- firth_fit(Xs, separable$y, rep(1, nrow(separable)), "Firth logistic, pima_separable.csv, y ~ glu + bmi")
write_table("ref_firth_logistic_pima_separable.csv", c("term", "estimate", "se"), r$names, r$estimate, r$se)

# ---- Bradley-Terry on baseball -------------------------------------------------------------
bt_design <- function(a, b, items, reference) {
  X <- matrix(0, length(a), length(items), dimnames = list(NULL, items))
  X[cbind(seq_along(a), match(a, items))] <- 1
  X[cbind(seq_along(b), match(b, items))] <- -1
  X[, setdiff(items, reference), drop = FALSE]
}
bt_reference <- function(games, file, label) {
  items <- sort(unique(c(games$winner, games$loser)))
  X <- bt_design(games$winner, games$loser, items, "Baltimore")
  r <- firth_fit(X, rep(1, nrow(games)), games$count, label)
  # BradleyTerry2 with bias reduction (brglm) on the same data.
  w <- data.frame(winner = factor(games$winner, levels = items), loser = factor(games$loser, levels = items),
                  win = games$count, loss = 0)
  bt <- BTm(cbind(win, loss), winner, loser, data = w, refcat = "Baltimore", br = TRUE,
            control.brglm = brglm::brglm.control(br.epsilon = 1e-13, br.maxit = 1000))
  check(rel(unname(coef(bt)[paste0("..", r$names)]), r$estimate) < 1e-6, "BradleyTerry2 BTm(br = TRUE) agrees (1e-6)")
  write_table(file, c("item", "strength", "se"), c("Baltimore", r$names), c(0, r$estimate), c(0, r$se))
}

baseball <- read.csv(file.path(data_dir, "baseball.csv"), stringsAsFactors = FALSE)
bt_reference(baseball, "ref_firth_bt_baseball.csv", "Firth Bradley-Terry, baseball.csv")

undefeated <- baseball[baseball$loser != "Milwaukee", ]
write.csv(undefeated, file.path(data_dir, "baseball_undefeated.csv"), row.names = FALSE, quote = FALSE)
cat("  wrote", file.path(data_dir, "baseball_undefeated.csv"), "\n")
check(sum(undefeated$count[undefeated$loser == "Milwaukee"]) == 0, "Milwaukee never loses in baseball_undefeated.csv")
bt_reference(undefeated, "ref_firth_bt_baseball_undefeated.csv", "Firth Bradley-Terry, baseball_undefeated.csv")

games <- read.csv(file.path(data_dir, "baseball_games.csv"), stringsAsFactors = FALSE)
winner <- ifelse(games$outcome == 1, games$home, games$away)
loser <- ifelse(games$outcome == 1, games$away, games$home)
tally <- aggregate(list(n = rep(1, nrow(games))), list(winner = winner, loser = loser), sum)
merged <- merge(tally, baseball, by = c("winner", "loser"))
check(nrow(merged) == nrow(baseball) && all(merged$n == merged$count), "baseball_games tallies equal baseball.csv")
items <- sort(unique(c(games$home, games$away)))
Xh <- cbind(bt_design(games$home, games$away, items, "Baltimore"), "(home)" = 1)
r <- firth_fit(Xh, games$outcome, rep(1, nrow(games)), "Firth Bradley-Terry with home advantage, baseball_games.csv")
k <- length(r$estimate)
write_table("ref_firth_bt_baseball_home.csv", c("item", "strength", "se"),
            c("Baltimore", r$names[-k], "(home)"), c(0, r$estimate[-k], r$estimate[k]), c(0, r$se[-k], r$se[k]))
cat("done\n")
