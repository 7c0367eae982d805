"""The studio window: a thin Qt skin over the core's portal repository, job objects and shader parameters."""
