"""Long jobs: the runner that starts and resumes them, the job service the routes call, and one module
per pipeline (batch enrichment here; the bookshelf scan and the CSV import build on the same runner)."""
