"""One script per figure; see RESULTS.md."""
