"""Running a recipe, by job: the options and settings of a run (``options``), building
and running its pipeline (``orchestrate``), what it made (``results``) and how far it
has got (``progress``). ``arcoforge.run`` gathers their public names."""
