"""The web dashboard under /ui/: server-rendered pages over the API's data (issue 18)."""
