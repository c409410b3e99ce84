"""Quality on held-out data, with honest baselines in the same run and pictures to look at.

- `retrieval`: precision@k of similar items per label;
- `tagging`: accuracy and macro-F1 of predicted labels, with confusion matrices;
- `outfits`: fill-in-the-blank (warm and cold) and compatibility AUC against the baseline scorers;
- `personalization`: MAP@k, hit rate, coverage and diversity of feeds against the baseline recommenders.
"""
