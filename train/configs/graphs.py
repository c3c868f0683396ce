"""Graph tasks at the three levels, all offline (`python benchmarks/graph_tasks.py`):

- node: Zachary's karate club, the two leaders labelled, accuracy on the other 32 members (majority 0.50);
- graph: is each graph of the networkx atlas connected? test accuracy, mean of seeds 0, 1, 2 (the recipes
  below are seed 0; the JSON holds every seed);
- link: Les Misérables co-appearances, held-out edges against sampled non-edges, ROC-AUC (Adamic-Adar 0.904).
"""
from train.configs import Recipe

SOURCE = "benchmarks/results/graph_tasks_cpu.json"
KARATE = {"dataset": "karate", "batch_size": 2, "epochs": 200, "checkpoint_epochs": 50, "log_every": 50}
KARATE_FLAGS = "--data karate --batch-size 2 --epochs 200 --checkpoint-epochs 50 --log-every 50"
ATLAS = {"epochs": 100, "batch_size": 32, "optimizer": "adam", "lr": 0.003, "seed": 0}
ATLAS_FLAGS = "--epochs 100 --batch-size 32 --optimizer adam --lr 0.003 --seed 0"
LINKS = {"dataset": "les_miserables_links", "batch_size": 36, "epochs": 100, "model_overrides": {"dropout": 0.0}}
LINKS_FLAGS = "--data les_miserables_links --batch-size 36 --epochs 100 --set dropout=0.0"


def _karate(model: str, accuracy: float) -> Recipe:
    return Recipe(name=f"{model}_karate", model=model, settings=KARATE, command=f"zoo-train {model} {KARATE_FLAGS}",
                  measured={"test_accuracy": accuracy}, source=SOURCE, at=("node", "results", f"model={model}"))


def _atlas(model: str, label: str, mean: float, overrides: dict, sets: str, dataset="graph_atlas_connected"):
    return Recipe(name=f"{model}_atlas", model=model,
                  settings={"dataset": dataset, **ATLAS, "model_overrides": overrides},
                  command=f"zoo-train {model} --data {dataset} {ATLAS_FLAGS}" + "".join(f" --set {s}" for s in sets),
                  measured={"mean": mean}, source=SOURCE, at=("graph", "summary", label))


def _links(model: str, auc: float) -> Recipe:
    return Recipe(name=f"{model}_links", model=model, settings=LINKS, command=f"zoo-train {model} {LINKS_FLAGS}",
                  measured={"test_roc_auc": auc}, source=SOURCE, at=("link", "results", f"model={model}"))


RECIPES = [
    _karate("gcn", 0.96875), _karate("gcn_dense", 0.96875), _karate("gat", 0.96875), _karate("mpnn", 0.5),
    _atlas("gcn", "gcn", 0.9853, {"hidden": (64, 64), "dropout": 0.0}, ["hidden=64,64", "dropout=0.0"]),
    _atlas("gat", "gat", 0.9853, {"hidden": (16, 16), "heads": 4, "dropout": 0.0, "attention_dropout": 0.0},
           ["hidden=16,16", "heads=4", "dropout=0.0", "attention_dropout=0.0"]),
    _atlas("mpnn", "mpnn", 0.9787, {}, []),
    _atlas("deepsets", "deepsets", 0.9573, {}, []),
    _atlas("mlp", "mlp (degree histogram)", 0.9547, {"hidden": (64, 64)}, ["hidden=64,64"],
           dataset="graph_atlas_connected_degrees"),
    _links("gat", 0.9016), _links("mpnn", 0.8727), _links("gcn", 0.8524),
]
