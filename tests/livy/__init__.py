"""A Livy-REST-compatible test server, so that sparkmagic's PySpark kernel can run the notebook here.

server.py serves the REST API on loopback; repl.py is one session's Python process with Spark.
"""
