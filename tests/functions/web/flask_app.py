"""A Flask app behind lambdakit.runtime.web: JSON, a form, cookies, url_for, 404s."""

from flask import Flask, jsonify, make_response, request, url_for

from lambdakit.runtime.web import wsgi

app = Flask(__name__)


@app.get("/hello")
def hello():
    return jsonify(message="hello", url=url_for("hello", _external=True))


@app.post("/form")
def form():
    return jsonify(name=request.form["name"], colours=request.form.getlist("colour"))


@app.get("/login")
def login():
    response = make_response(jsonify(ok=True))
    response.set_cookie("session", "s3cr3t", httponly=True)
    response.set_cookie("theme", "dark")
    return response


@app.get("/whoami")
def whoami():
    return jsonify(session=request.cookies.get("session"), theme=request.cookies.get("theme"))


handler = wsgi(app)
