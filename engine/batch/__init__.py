"""`albert-lens batch`: many files -> one row per document in Parquet or JSON lines.

`files` (which files), `settings` (what to run: tasks, options, models and their identities),
`worker` (one document -> one row, the pipelines a worker holds), `rows` (the row schema, from
the results JSON of `engine.report`), `writer` (part files, then one atomic commit; resume),
`progress`, `local` (the default process pool), `ray_backend` (`--cluster`: Ray Data, an
optional extra) and `cli` (the command). No Qt; ray is imported only by `ray_backend`.
"""
