"""The Beam pipeline: one small transform per stage, the stages' work, the runners.

Apache Beam is imported by the modules that build or run a pipeline, through
:mod:`arcoforge.pipeline.quiet`, not by this package: a run that needs no pipeline (a
copy found up to date), and the other commands, start without it.
"""
