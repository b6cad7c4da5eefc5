"""Everything that reads inputs: fetching and caching them, their headers, their bytes by range.

Nothing here imports the plan, the targets or the pipeline. The virtual path's header
speed-ups are grouped in :mod:`arcoforge.sources.fastheaders`.
"""
