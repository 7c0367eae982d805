"""The studio's state without Qt (napari's ViewerModel pattern): what the editor is looking at and deciding.

``StudioModel`` holds the query and filter counts, the selection and the shown user, the preview loads (with their
LRU of neighbours loaded ahead) and review decisions with undo. It emits plain events (``events.Event``) that the
Qt window observes; it runs work through submit callables the window hands it (its thread pools), so the tests
drive it with no display and no QApplication. An import contract forbids PySide6 here.
"""
