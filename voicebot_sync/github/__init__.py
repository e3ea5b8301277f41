"""The GitHub Action: runner files, the REST client, the PR comment protocol and the steps."""
