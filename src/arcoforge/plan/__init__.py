"""Planning: the inputs' headers combined into the target schema, its chunks, its tasks.

What planning reads, it reads through :mod:`arcoforge.sources`; what it plans, the
targets write and the pipeline runs.
"""
