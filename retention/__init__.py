"""Retention: downsample, archive to object storage (Parquet, zstd), verify, then prune; usage by region.

jboxmon never deletes what it has not archived and read back: see :mod:`retention.runner` for one pass,
:mod:`retention.manifest` for the archive's crash story, :mod:`retention.restore` to bring rows back.
"""
