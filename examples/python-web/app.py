"""A small Flask service: a JSON status endpoint, a page rendered from a
Jinja2 template, and a time-zone conversion using zoneinfo (the system tzdata).

Every answer is deterministic for a given request, so a fat and a slim image
can be compared byte for byte.
"""
import datetime
import importlib.metadata
import platform
import zoneinfo

import flask

app = flask.Flask(__name__)

SERVICES = ["catalog", "orders", "billing"]


@app.get("/api/status")
def status():
    return flask.jsonify(status="ok", service="python-web",
                         python=platform.python_version(),
                         flask=importlib.metadata.version("flask"),
                         services=SERVICES)


@app.get("/")
def index():
    return flask.render_template("index.html", title="python-web", services=SERVICES)


@app.get("/time")
def time():
    name = flask.request.args.get("tz", "UTC")
    at = flask.request.args.get("at")
    try:
        tz = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return flask.jsonify(error=f"unknown time zone: {name}"), 404
    if at:
        try:
            when = datetime.datetime.fromisoformat(at)
        except ValueError:
            return flask.jsonify(error=f"bad time: {at}"), 400
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
    else:
        when = datetime.datetime.now(datetime.timezone.utc)
    local = when.astimezone(tz)
    return flask.jsonify(tz=name, local=local.isoformat(), abbreviation=local.tzname(),
                         utc_offset=local.strftime("%z"))


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=8000)
