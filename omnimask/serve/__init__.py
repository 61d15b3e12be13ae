"""``omnimask serve``: the interactive 4M — an HTTP API and a web page on the one inference pipeline.

* :mod:`~omnimask.serve.settings` — the limits (upload bytes, pixels, steps, queued jobs, ...);
* :mod:`~omnimask.serve.schemas` — request and response models (validated by FastAPI, shown at ``/docs``);
* :mod:`~omnimask.serve.engine` — requests → :class:`~omnimask.generation.pipeline.Pipeline` calls, one at a
  time, and their outputs as PNG / text / JSON; every bad input is a :class:`ServeError` naming its field;
* :mod:`~omnimask.serve.app` — the FastAPI app (``/generate``, ``/edit``, ``/retrieve``, ``/health``,
  ``/model``, the page at ``/``).

FastAPI and uvicorn come with the optional extra ``pip install 'omnimask[serve]'``.
"""
