"""Sentiment on the 5,000 fine-food reviews (`great` vs `other`; 4,000 train, 1,000 test).

Each model trains with its card's recipe (GloVe 6B-50d rows fine-tuned, Adam with cosine decay, epochs and
rates per card), seed 0, 2 CPU cores:

    python benchmarks/sentiment_food_reviews.py --data-dir ../shared/data

Majority class 0.658; TF-IDF bigram logistic regression 0.807 on the same split (the same JSON). The card
recipes are the benchmark's: `zoo-train MODEL --data fine_foods --data-dir ../shared/data` repeats one run.
"""
from train.configs import Recipe

SOURCE = "benchmarks/results/sentiment_food_reviews_cpu.json"
MEASURED = {"sentiment_bag": 0.783, "sentiment_concat": 0.790, "sentiment_cnn": 0.794, "sentiment_rnn": 0.780,
            "sentiment_gru": 0.802, "sentiment_lstm": 0.794, "sentiment_attention": 0.800}

RECIPES = [
    Recipe(name=f"{model}_fine_foods", model=model,
           settings={"dataset": "fine_foods", "data_dir": "../shared/data", "seed": 0},
           command=f"zoo-train {model} --data fine_foods --data-dir ../shared/data --seed 0",
           measured={"test_accuracy": accuracy}, source=SOURCE, at=("results", f"model={model}"))
    for model, accuracy in MEASURED.items()
]
