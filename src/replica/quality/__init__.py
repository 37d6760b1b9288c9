"""Data quality: Great Expectations suites of the contracts, plus checks of referenced blobs."""
