"""`medrnn serve`: a FastAPI app and its web page over the one `Predictor` (docs/serve.md).

settings.py  limits and switches          loading.py     artifacts -> served models, checked at start-up
requests.py  request -> inputs + options  inputs.py      uploads, zips and JSON items -> temp files
batching.py  micro-batches per model, one worker thread each
results.py   Predictions -> the answer    explaining.py  ?explain= -> JSON + PNG links
guards.py    request ids, size limits, bearer token, logs     schemas.py  pydantic request/response models
app.py       the routes (no inference logic of their own)     static/     the page (plain HTML/CSS/JS)
"""
