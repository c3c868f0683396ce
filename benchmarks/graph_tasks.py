"""The graph family's three tasks, trained by the real loop, with a non-graph baseline for each, as JSON.

    python benchmarks/graph_tasks.py --out benchmarks/results/graph_tasks_cpu.json [--tasks link]

* node: karate club, only the two leaders labelled, accuracy on the other 32 members (card recipes);
  baseline: the majority class of the 32.
* graph: the networkx graph atlas labelled 'is connected' (1,002 train / 250 test graphs, node features
  one-hot degrees), test accuracy over `--seeds` seeds; baseline: the zoo's `mlp` on each graph's degree
  histogram (the same information minus the edges), same splits and seeds; also every read-out of mpnn.
* link: Les Miserables co-appearances, 20% of edges held out with as many non-edges, ROC-AUC; baselines:
  the classic neighbourhood scores (common neighbours, Jaccard, Adamic-Adar) on the training edges.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # report.py beside this script

NODE_SETTINGS = {"dataset": "karate", "batch_size": 2, "epochs": 200, "checkpoint_epochs": 50, "log_every": 50}
ATLAS = "graph_atlas_connected"
ATLAS_SETTINGS = {"epochs": 100, "batch_size": 32, "optimizer": "adam", "lr": 3e-3}
LINK_SETTINGS = {"dataset": "les_miserables_links", "batch_size": 36, "epochs": 100, "model_overrides": {"dropout": 0.0}}


def run(model: str, **settings) -> dict:
    from train import config_for, train_and_evaluate

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        summary = train_and_evaluate(config_for(model, progress=False, plots=False, **settings), workdir).summary
    return {"model": model, "test_accuracy": summary["test_accuracy"], "test_roc_auc": summary.get("test_roc_auc"),
            "steps": summary["steps"], "seconds": round(time.perf_counter() - started, 1), "settings": settings}


def node_task() -> dict:
    from train.data import load_dataset

    test = load_dataset("karate").splits["test"]
    labels = test.labels[test.nodes]
    majority = float(max(np.mean(labels), 1 - np.mean(labels)))
    return {"dataset": "karate", "majority_class_accuracy": majority,
            "results": [run(m, **NODE_SETTINGS) for m in ("gcn", "gcn_dense", "gat", "mpnn")]}


def graph_task(seeds: int) -> dict:
    results = {}
    for model, overrides in (("mpnn", {}), ("gcn", {"hidden": (64, 64), "dropout": 0.0}),
                             ("gat", {"hidden": (16, 16), "heads": 4, "dropout": 0.0, "attention_dropout": 0.0}),
                             ("deepsets", {})):
        results[model] = [run(model, dataset=ATLAS, seed=s, model_overrides=overrides, **ATLAS_SETTINGS)
                          for s in range(seeds)]
    results["mlp (degree histogram)"] = [run("mlp", dataset=f"{ATLAS}_degrees", seed=s,
                                             model_overrides={"hidden": (64, 64)}, **ATLAS_SETTINGS)
                                         for s in range(seeds)]
    readouts = [run("mpnn", dataset=ATLAS, model_overrides={"readout": r}, **ATLAS_SETTINGS)
                for r in ("sum", "mean", "max", "attention")]
    summary = {name: {"mean": float(np.mean([r["test_accuracy"] for r in rows])),
                      "std": float(np.std([r["test_accuracy"] for r in rows])),
                      "per_seed": [r["test_accuracy"] for r in rows]} for name, rows in results.items()}
    return {"dataset": ATLAS, "summary": summary, "runs": results, "mpnn_readouts": readouts}


def heuristic_aucs() -> dict:
    """ROC-AUC of neighbourhood scores computed on the training edges (what a GNN must beat)."""
    import networkx as nx
    from sklearn.metrics import roc_auc_score

    from train.data import load_dataset

    dataset = load_dataset("les_miserables_links")
    train_graph = dataset.splits["train"].graph
    graph = nx.Graph()
    graph.add_nodes_from(range(int(train_graph.n_node[0])))
    graph.add_edges_from(zip(train_graph.senders.tolist(), train_graph.receivers.tolist()))
    test = dataset.splits["test"]
    pairs = [tuple(p) for p in test.pairs.tolist()]
    scores = {
        "common_neighbours": [len(list(nx.common_neighbors(graph, u, v))) for u, v in pairs],
        "jaccard": [s for _, _, s in nx.jaccard_coefficient(graph, pairs)],
        "adamic_adar": [s for _, _, s in nx.adamic_adar_index(graph, pairs)],
    }
    return {name: float(roc_auc_score(test.labels, s)) for name, s in scores.items()}


def link_task() -> dict:
    return {"dataset": "les_miserables_links", "heuristic_roc_auc": heuristic_aucs(),
            "results": [run(m, **LINK_SETTINGS) for m in ("gcn", "gat", "mpnn")]}


def main() -> None:
    import jax

    from report import machine, write_json

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="benchmarks/results/graph_tasks_cpu.json")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--tasks", nargs="+", choices=("node", "link", "graph"), default=["node", "link", "graph"],
                   help="re-run only these; the other tasks' rows already in --out are kept")
    args = p.parse_args()
    runners = {"node": node_task, "link": link_task, "graph": lambda: graph_task(args.seeds)}
    report = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    report.update({"benchmark": "graph_tasks", "machine": machine(), "versions": {"jax": jax.__version__}})
    report.update({task: runners[task]() for task in args.tasks})
    write_json(args.out, report)
    print(*(report[task] for task in args.tasks), sep="\n")


if __name__ == "__main__":
    main()
