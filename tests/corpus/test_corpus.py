"""Every file of the real third-party config corpus gets the outcome tests/corpus/expectations.yaml
records for it (no traceback, no hang, no file without an entry, no entry without a file)."""

from __future__ import annotations

import pytest

from tests.corpus import expectations as exp
from tests.corpus.current import validate_corpus
from tests.corpus.locate import corpus_root

ROOT = corpus_root()


@pytest.mark.skipif(
    ROOT is None,
    reason="no config corpus at $PYMOSN_CORPUS, <repo>/../shared/corpus or /work/shared/corpus "
    "(set PYMOSN_CORPUS to the directory holding mosn/, envoy/ and istio/)",
)
def test_every_corpus_file_has_its_expected_outcome(tmp_path):
    differences = exp.compare(exp.load(), validate_corpus(ROOT, tmp_path))
    if differences:
        pytest.fail(exp.render_differences(differences), pytrace=False)
