"""`pymosn validate` over the real third-party config corpus (../shared/corpus), compared with
expectations.yaml. Regenerate the expectations and docs/corpus.md: `python -m tests.corpus.update`."""
