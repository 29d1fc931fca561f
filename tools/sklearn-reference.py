#!/usr/bin/python3
"""sklearn-reference.py [DATA_DIR] - scikit-learn's figures on nncc's splits.

Reads the train/test CSV files that tools/get-sklearn.sh writes (default
data/sklearn), and prints the markdown section of docs/results.md headed
"Tabular data (scikit-learn's datasets)" (kept in docs/results-sklearn.md,
which tools/results.sh copies in).  Optional and never run by make, the tests
or the CI: it needs scikit-learn (Debian: apt-get install python3-sklearn, then
run it with /usr/bin/python3), which nncc itself does not.

Per data set: features standardised with a StandardScaler fitted on the train
file; an MLP with one hidden layer of 32 relu units (Adam, scikit-learn's
defaults otherwise) over seeds 1, 2, 3 (mean and range), a linear model, and
a baseline that ignores the features.  Classification: test accuracy.
Regression (diabetes): test RMSE and MAE in the target's own units; the MLP
is fitted on the standardised target (scaler fitted on train) and its
predictions are scaled back.
"""

import csv
import datetime
import os
import sys
import warnings

import numpy as np
import sklearn
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

SEEDS = (1, 2, 3)
HIDDEN = (32,)
MAX_ITER = 2000

# (file stem, title, task): the label or target is the last column.
DATASETS = (
    ("iris", "iris", "class"),
    ("breast-cancer", "breast cancer", "class"),
    ("wine", "wine", "class"),
    ("digits", "digits", "class"),
    ("diabetes", "diabetes (raw)", "regression"),
)


def read_csv(path):
    """Returns (header, features as float64 [n, d], last column as strings [n])."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    if any(len(r) != len(header) for r in body):
        sys.exit(f"{path}: rows of unequal length")
    x = np.array([[float(v) for v in r[:-1]] for r in body])
    y = np.array([r[-1] for r in body])
    return header, x, y


def fit(model, x, y):
    """Fits model, failing when the solver did not converge."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(x, y)
    return model


def rmse_mae(y, p):
    return float(np.sqrt(np.mean((y - p) ** 2))), float(np.mean(np.abs(y - p)))


def classification(x_tr, y_tr, x_te, y_te):
    """Yields (model, accuracies) rows."""
    classes, counts = np.unique(y_tr, return_counts=True)
    majority = classes[np.argmax(counts)]
    yield "majority class of train", [float(np.mean(y_te == majority))]
    acc = []
    for seed in SEEDS:
        m = MLPClassifier(hidden_layer_sizes=HIDDEN, activation="relu", max_iter=MAX_ITER, random_state=seed)
        acc.append(float(np.mean(fit(m, x_tr, y_tr).predict(x_te) == y_te)))
    # scikit-learn gives two classes one sigmoid output, more a softmax.
    out = "1 sigmoid" if len(classes) == 2 else f"{len(classes)} softmax"
    yield f"MLPClassifier {x_tr.shape[1]}-32-{out}, relu, Adam", acc
    m = LogisticRegression(max_iter=MAX_ITER)
    yield "LogisticRegression (L2, C=1, lbfgs)", [float(np.mean(fit(m, x_tr, y_tr).predict(x_te) == y_te))]


def regression(x_tr, y_tr, x_te, y_te):
    """Yields (model, [(rmse, mae)]) rows."""
    yield "mean of train targets", [rmse_mae(y_te, np.full_like(y_te, y_tr.mean()))]
    err = []
    for seed in SEEDS:
        mlp = MLPRegressor(hidden_layer_sizes=HIDDEN, activation="relu", max_iter=MAX_ITER, random_state=seed)
        m = TransformedTargetRegressor(regressor=mlp, transformer=StandardScaler())
        err.append(rmse_mae(y_te, fit(m, x_tr, y_tr).predict(x_te)))
    yield f"MLPRegressor {x_tr.shape[1]}-32-1 linear, relu, Adam, standardised target", err
    yield "LinearRegression (least squares)", [rmse_mae(y_te, fit(LinearRegression(), x_tr, y_tr).predict(x_te))]


def summary(values, scale=1.0, unit=""):
    """'mean (min-max)' over seeds, or the one value of a deterministic model."""
    v = [x * scale for x in values]
    if len(v) == 1:
        return f"{v[0]:.2f}{unit}"
    return f"{np.mean(v):.2f}{unit} ({min(v):.2f}-{max(v):.2f}{unit})"


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "data/sklearn"
    if len(sys.argv) > 2:
        sys.exit("usage: sklearn-reference.py [DATA_DIR]")
    rows = []
    for stem, title, task in DATASETS:
        h_tr, x_tr, y_tr = read_csv(os.path.join(data, f"{stem}-train.csv"))
        h_te, x_te, y_te = read_csv(os.path.join(data, f"{stem}-test.csv"))
        if h_tr != h_te:
            sys.exit(f"{stem}: train and test headers differ")
        scaler = StandardScaler().fit(x_tr)
        x_tr, x_te = scaler.transform(x_tr), scaler.transform(x_te)
        sizes = f"{len(y_tr)}/{len(y_te)}"
        if task == "class":
            for model, acc in classification(x_tr, y_tr, x_te, y_te):
                rows.append((title, sizes, model, summary(acc, 100, "%"), "-"))
        else:
            y_tr, y_te = y_tr.astype(float), y_te.astype(float)
            for model, err in regression(x_tr, y_tr, x_te, y_te):
                rows.append((title, sizes, model, summary([e[0] for e in err]),
                             summary([e[1] for e in err])))

    print("## Tabular data (scikit-learn's datasets)")
    print()
    print("scikit-learn's own figures on nncc's split of its small data sets (the CSV")
    print("files `make data` writes into `data/sklearn/`, docs/data.md): the same train")
    print("and test rows nncc uses, features standardised with the train set's mean and")
    print("standard deviation per column. These are scikit-learn's figures, not nncc's;")
    print("the nncc rows follow. MLP rows: one hidden layer of 32 relu units, Adam with")
    print("scikit-learn's defaults (learning rate 0.001, batches of min(200, n), L2 1e-4,")
    print(f"at most {MAX_ITER} epochs, stopping when the loss stalls), over seeds")
    print("1, 2, 3: mean (range). The other rows are deterministic. Diabetes: RMSE and MAE")
    print("of the disease-progression target in its own units (the MLP fits the")
    print("standardised target and its predictions are scaled back).")
    print()
    print(f"- Command: `/usr/bin/python3 tools/sklearn-reference.py {data} > docs/results-sklearn.md`")
    print(f"- scikit-learn {sklearn.__version__}, NumPy {np.__version__}, Python {sys.version.split()[0]}")
    print(f"- Date: {datetime.date.today().isoformat()}")
    print()
    print("| Data set | Train/test rows | Model | Test accuracy or RMSE | Test MAE |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
