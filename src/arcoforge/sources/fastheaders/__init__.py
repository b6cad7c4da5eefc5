"""Reading many look-alike netCDF headers fast: the speed-up machinery of both paths.

Data flows through these modules in this order, driven by :mod:`arcoforge.sources.virtual`:

* :mod:`~arcoforge.sources.fastheaders.prefetch`: a child process fetches both edges of
  each input, so that fetching never competes with parsing for the interpreter lock;
* :mod:`~arcoforge.sources.fastheaders.edges`: an input's header is parsed from memory
  through a :class:`~arcoforge.sources.fastheaders.edges.RangeFile` over those edges
  (a read outside them fetches one block); copies by byte range and probes use it too;
* :mod:`~arcoforge.sources.fastheaders.templates`: an input whose h5py probe matches a
  header parsed before (a :class:`~arcoforge.sources.fastheaders.templates.HeaderTemplate`)
  is made from it with its own byte ranges, without a VirtualiZarr parse;
* :mod:`~arcoforge.sources.fastheaders.concat`: consecutive inputs made from one template
  become one virtual dataset along the concat dim at once.

Copies read by byte range (:mod:`arcoforge.sources.chunk_reads`) take a shorter road:
:mod:`~arcoforge.sources.fastheaders.repeated` gives an input whose edges repeat a parsed
one's bytes (outside data) that input's chunk maps and header, with its own small values.
"""
