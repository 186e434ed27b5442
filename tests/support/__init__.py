"""What the tests share besides fixtures: settings and scratch databases, live servers and
nodes, browsers, parties and the worlds built on them (conftest keeps only fixtures)."""
