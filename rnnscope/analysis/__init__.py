"""Analyses of an activation store: each takes arrays or a store and returns a result object
with a tidy ``.table`` (pandas) and plot methods. One module per method; see the modules."""
