"""Sliders and fields for every shader parameter, generated from ``PARAM_SPECS``, with undo and per-user scope.

Two layers of values, stored and combined by ``render.param_layers``: the global defaults (a partial dict over
the built-in defaults) and each user's override (a partial dict over the global defaults). The panel edits one
layer at a time; the preview always shows the effective set, which is what the web will get for that user.

A user's sliders stay disabled until their stored layer has been read: an edit made before would become the
whole layer and be saved over the stored one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics, QGuiApplication, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from depthstudio.errors import DepthstudioError
from depthstudio.portal.repository import Portal
from depthstudio.render.param_layers import (
    effective,
    read_defaults_layer,
    read_user_layer,
    write_defaults_layer,
    write_user_layers,
)
from depthstudio.render.params import PARAM_SPECS, SPECS_BY_NAME, ParamSpec, ShaderParams
from depthstudio.render.react_export import jsx_snippet
from depthstudio.render.target import Target, target
from depthstudio.render.web_export import web_images
from depthstudio.ui.fine_slider import FineSlider, spin_button_style
from depthstudio.ui.flow import FlowLayout
from depthstudio.ui.workers import TaskRunner, describe, write_pool

log = logging.getLogger(__name__)

USER, GLOBAL = "user", "global"
SLIDER_MIN_WIDTH = 140  # shorter and a pixel of drag is too coarse a step (the row wraps instead)
SAVE_DELAY_MS = 250  # a slider drag becomes one database write, not sixty


class _ParamEdit(QUndoCommand):
    """One parameter of one layer changed; consecutive changes of the same slider merge into one undo step."""

    ID = 1001

    def __init__(self, panel: ParamsPanel, scope: str, user_id: str | None, name: str, old: Any, new: Any) -> None:
        self.gesture = panel.gesture  # edits merge within one drag (or one run of wheel notches), not across two
        label = SPECS_BY_NAME[name].label
        super().__init__(f"reset {label}" if new is None else f"{label} = {new}")
        self.panel, self.scope, self.user_id, self.name = panel, scope, user_id, name
        self.old, self.new = old, new

    def id(self) -> int:
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, _ParamEdit) or None in (self.new, other.new) or other.gesture != self.gesture:
            return False  # a reset is a step of its own, and so is each drag
        if (other.scope, other.user_id, other.name) != (
            self.scope,
            self.user_id,
            self.name,
        ):
            return False
        self.new = other.new
        self.setText(f"{SPECS_BY_NAME[self.name].label} = {self.new}")
        return True

    def redo(self) -> None:
        self.panel.apply_value(self.scope, self.user_id, self.name, self.new)

    def undo(self) -> None:
        self.panel.apply_value(self.scope, self.user_id, self.name, self.old)


class _LayerReplace(QUndoCommand):
    """A whole layer replaced at once (reset, copy to other users): undo puts each user's old layer back."""

    def __init__(self, panel: ParamsPanel, text: str, scope: str, before: dict[str | None, dict[str, Any]],
                 after: dict[str, Any]) -> None:  # fmt: skip
        super().__init__(text)
        self.panel, self.scope, self.before, self.after = panel, scope, before, after

    def redo(self) -> None:
        self.panel.replace_layers(self.scope, {key: self.after for key in self.before})

    def undo(self) -> None:
        self.panel.replace_layers(self.scope, self.before)


SLIDER_HINT = "Shift+drag: fine · click, then wheel: one step · double-click: reset"


class _Row:
    """The editor of one parameter: a slider plus a number field, a checkbox or a choice list."""

    def __init__(self, spec: ParamSpec, on_edit: Callable[[str, Any], None]) -> None:
        self.spec = spec
        self.on_edit = on_edit
        self.label = QLabel(spec.label)
        self.label.setToolTip(spec.help)
        # As wide as its widest form (bold, with the override dot), so marking an override never shifts the field.
        bold = QFont(self.label.font())
        bold.setBold(True)
        self.label.setMinimumWidth(QFontMetrics(bold).horizontalAdvance(spec.label + "  •") + 2)
        self.widget = QWidget()
        layout = QHBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        self.slider: QSlider | None = None
        self.field: QAbstractSpinBox | QCheckBox | QComboBox
        if spec.kind in ("float", "int"):
            assert spec.minimum is not None and spec.maximum is not None and spec.step
            self.slider = FineSlider()
            self.slider.setObjectName(f"slider_{spec.name}")
            self.slider.reset_requested.connect(lambda: self.on_edit(spec.name, None))
            self.slider.setRange(0, round((spec.maximum - spec.minimum) / spec.step))
            self.slider.setToolTip(f"{spec.help}\n{SLIDER_HINT}")
            self.slider.setMinimumWidth(SLIDER_MIN_WIDTH)
            box: QDoubleSpinBox | QSpinBox
            if spec.kind == "float":
                box = QDoubleSpinBox()
                box.setDecimals(max(0, len(f"{spec.step:g}".partition(".")[2])))
            else:
                box = QSpinBox()
            box.setRange(spec.minimum, spec.maximum)  # type: ignore[arg-type]
            box.setSingleStep(spec.step)  # type: ignore[arg-type]
            box.setKeyboardTracking(False)  # typing "120" is one edit, not "1", "12", "120"
            box.setFixedWidth(88)
            box.setObjectName(f"field_{spec.name}")
            self.field = box
            self.slider.valueChanged.connect(self._slider_moved)
            box.valueChanged.connect(self._field_changed)
            layout.addWidget(self.slider, 1)
            layout.addWidget(box)
        elif spec.kind == "bool":
            self.field = QCheckBox()
            self.field.setObjectName(f"field_{spec.name}")
            self.field.toggled.connect(lambda on: self.on_edit(spec.name, bool(on)))
            layout.addWidget(self.field)
            layout.addStretch(1)
        else:
            self.field = QComboBox()
            self.field.setObjectName(f"field_{spec.name}")
            self.field.addItems(list(spec.choices))
            self.field.currentTextChanged.connect(lambda text: self.on_edit(spec.name, text))
            layout.addWidget(self.field, 1)
        self.field.setToolTip(spec.help)

    def _slider_moved(self, i: int) -> None:
        assert self.spec.minimum is not None and self.spec.step
        value = self.spec.minimum + i * self.spec.step
        value = round(value) if self.spec.kind == "int" else round(value, 6)
        self.field.blockSignals(True)
        self.field.setValue(value)  # type: ignore[union-attr]
        self.field.blockSignals(False)
        self.on_edit(self.spec.name, value)

    def _field_changed(self, value: float) -> None:
        if self.slider is not None:
            self._set_slider(value)
        self.on_edit(self.spec.name, int(value) if self.spec.kind == "int" else float(value))

    def _set_slider(self, value: float) -> None:
        assert self.slider is not None and self.spec.minimum is not None and self.spec.step
        self.slider.blockSignals(True)
        self.slider.setValue(round((value - self.spec.minimum) / self.spec.step))
        self.slider.blockSignals(False)

    def set_ignored(self, reason: str | None) -> None:
        """Disabled with the reason as its tooltip where the portal's web component ignores this parameter."""
        tip = reason or self.spec.help
        for w in (self.label, self.widget, self.field):
            w.setToolTip(tip)
        if self.slider is not None:
            self.slider.setToolTip(tip if reason else f"{tip}\n{SLIDER_HINT}")
        self.label.setEnabled(reason is None)

    def show(self, value: Any, overridden: bool) -> None:
        self.field.blockSignals(True)
        if isinstance(self.field, QCheckBox):
            self.field.setChecked(bool(value))
        elif isinstance(self.field, QComboBox):
            self.field.setCurrentText(str(value))
        else:
            self.field.setValue(value)  # type: ignore[union-attr]
            self._set_slider(float(value))
        self.field.blockSignals(False)
        font = QFont(self.label.font())
        font.setBold(overridden)
        self.label.setFont(font)
        self.label.setText(self.spec.label + ("  •" if overridden else ""))


class ParamsPanel(QWidget):
    params_changed = Signal(object)  # the effective ShaderParams for the current user
    message = Signal(str)

    def __init__(
        self, portal: Portal, undo: QUndoStack, reviewer: Callable[[], str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.portal = portal
        self.undo = undo
        self.reviewer = reviewer  # read at each write: Settings may change who reviews
        self.defaults: dict[str, Any] = {}
        self.user_id: str | None = None
        self.user_layer: dict[str, Any] = {}
        self._user_loaded = True  # the shown user's stored layer is in (or there is no user)
        self._user_generation = 0  # bumped per set_user: a stored layer read for an earlier user is dropped
        self.scope = USER
        self.selected_ids: Callable[[], list[str]] = lambda: []
        self._tasks = TaskRunner(parent=self)
        self._writes = TaskRunner(write_pool(), self)  # saved in the order edited, between the decisions
        self._dirty: set[str | None] = set()  # user ids (None = the global layer) waiting to be written
        self._layers: dict[str, dict[str, Any]] = {}  # user id -> layer, for users edited in this session
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.flush)

        self.setStyleSheet(spin_button_style())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        title = QLabel("Shader parameters")
        title.setObjectName("sectionTitle")
        layout.addWidget(title)
        scope_row = QHBoxLayout()
        self.user_button = QPushButton("This user")
        self.global_button = QPushButton("Global defaults")
        self._scope_group = QButtonGroup(self)
        for button, scope in ((self.user_button, USER), (self.global_button, GLOBAL)):
            button.setCheckable(True)
            button.setObjectName("chip")
            self._scope_group.addButton(button)
            button.clicked.connect(lambda _=False, s=scope: self.set_scope(s))
            scope_row.addWidget(button)
        self.user_button.setChecked(True)
        scope_row.addStretch(1)
        layout.addLayout(scope_row)
        self.scope_hint = QLabel()
        self.scope_hint.setWordWrap(True)
        self.scope_hint.setObjectName("hint")
        # Two lines' height and no width of its own whatever the text: the sliders below never move.
        self.scope_hint.setFixedHeight(self.scope_hint.fontMetrics().lineSpacing() * 2 + 4)
        self.scope_hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout.addWidget(self.scope_hint)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        # A narrow column puts each label over its slider, so the slider gets the column's whole width.
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.rows: dict[str, _Row] = {}
        self.gesture = 0  # bumped when a slider is let go: the next edit starts a new undo step
        for spec in PARAM_SPECS:
            row = _Row(spec, self._edited)
            self.rows[spec.name] = row
            if row.slider is not None:
                row.slider.sliderReleased.connect(self._gesture_ended)
            form.addRow(row.label, row.widget)
        layout.addLayout(form)

        buttons = FlowLayout()
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Clear this layer: the user follows the global defaults / the built-in defaults")
        self.reset_button.clicked.connect(self.reset_layer)
        self.copy_button = QPushButton("Copy to selected")
        self.copy_button.setToolTip("Give every selected user this user's parameters")
        self.copy_button.clicked.connect(self.copy_to_selected)
        self.web_button = QPushButton("Copy web props")
        self.web_button.setToolTip(
            "The props of the portal's web component ([web] target) for this user, images included, as JSON"
        )
        self.web_button.clicked.connect(self.copy_web_props)
        self.jsx_button = QPushButton("Copy JSX")
        self.jsx_button.setToolTip(
            "The [web] target's element (<DepthAvatar> for depthstudio) for this user as JSX, images included"
        )
        self.jsx_button.clicked.connect(self.copy_jsx)
        for b in (self.reset_button, self.copy_button, self.web_button, self.jsx_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self._refresh()

    def _gesture_ended(self) -> None:
        self.gesture += 1

    # --- loading ------------------------------------------------------------------------------------------

    def load_defaults(self) -> None:
        """Read the global layer (off the GUI thread)."""
        self._tasks.submit(
            lambda: read_defaults_layer(self.portal),
            done=self._defaults_loaded,
            failed=lambda exc: self.message.emit(f"cannot read the shader defaults: {describe(exc)}"),
        )

    def _defaults_loaded(self, value: dict[str, Any]) -> None:
        self.defaults = dict(value) if isinstance(value, dict) else {}
        self._refresh()

    def set_user(self, user_id: str | None) -> None:
        """Show this user's layer, read off the GUI thread; this session's edits not yet saved win over it."""
        self._user_generation += 1
        same = user_id == self.user_id and self._user_loaded
        self.user_id = user_id
        if user_id is None or user_id in self._layers:
            self.user_layer = dict(self._layers[user_id]) if user_id else {}
            self._user_loaded = True
        else:
            # The same user again (a reload) keeps the layer on screen, editable, while it is read again.
            self._user_loaded = same
            if not same:
                self.user_layer = {}
            generation = self._user_generation
            self._tasks.submit(
                lambda: read_user_layer(self.portal, user_id),
                done=lambda stored: self._user_layer_read(generation, user_id, stored),
                failed=lambda exc: self._user_layer_failed(generation, exc),
            )
        self._refresh()

    def _user_layer_read(self, generation: int, user_id: str, stored: dict[str, Any]) -> None:
        if generation != self._user_generation:
            return
        self.user_layer = dict(self._layers.get(user_id, stored))
        self._user_loaded = True
        self._refresh()

    def _user_layer_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._user_generation:
            self.message.emit(f"cannot read this user's parameters, so they cannot be edited: {describe(exc)}")

    @property
    def loading(self) -> bool:
        """The shown user's stored layer is still being read (their sliders are disabled)."""
        return not self._user_loaded

    def set_scope(self, scope: str) -> None:
        self.scope = scope
        (self.user_button if scope == USER else self.global_button).setChecked(True)
        self._refresh()

    # --- values -------------------------------------------------------------------------------------------

    def current(self) -> ShaderParams:
        try:
            return effective(self.defaults, self.user_layer)
        except DepthstudioError as err:
            self.message.emit(f"stored parameters ignored: {err}")
            return ShaderParams()

    def _layer(self, scope: str, user_id: str | None) -> dict[str, Any]:
        if scope == GLOBAL:
            return self.defaults
        if user_id == self.user_id:
            return self.user_layer
        return self._layers.setdefault(user_id or "", {})

    def _edited(self, name: str, value: Any) -> None:
        if self.scope == USER and self.user_id is None:
            self.message.emit("select a user to give them their own parameters, or switch to Global defaults")
            self._refresh()
            return
        if self.scope == USER and not self._user_loaded:
            self.message.emit("this user's parameters are still being read; edit them in a moment")
            self._refresh()
            return
        user_id = self.user_id if self.scope == USER else None
        old = self._layer(self.scope, user_id).get(name)
        if value is None and old is None:
            self.message.emit(f"{SPECS_BY_NAME[name].label} already follows the defaults: nothing to reset")
            return
        self.undo.push(_ParamEdit(self, self.scope, user_id, name, old, value))

    def apply_value(self, scope: str, user_id: str | None, name: str, value: Any) -> None:
        """Set (or with ``None`` remove) one value in a layer; used by the undo commands."""
        layer = self._layer(scope, user_id)
        baseline = SPECS_BY_NAME[name].default if scope == GLOBAL else effective(self.defaults, {}).to_dict()[name]
        if value is None or value == baseline:
            layer.pop(name, None)
        else:
            layer[name] = value
        self._changed(scope, user_id)

    def replace_layers(self, scope: str, layers: dict[str | None, dict[str, Any]]) -> None:
        for user_id, layer in layers.items():
            if scope == GLOBAL:
                self.defaults = dict(layer)
            elif user_id == self.user_id:
                self.user_layer = dict(layer)
            else:
                self._layers[user_id or ""] = dict(layer)
            self._changed(scope, user_id)

    def _changed(self, scope: str, user_id: str | None) -> None:
        if scope == USER and user_id is not None:
            self._layers[user_id] = dict(self._layer(scope, user_id))
        self._dirty.add(None if scope == GLOBAL else user_id)
        self._save_timer.start()
        self._refresh()

    @property
    def target(self) -> Target:
        """The web component the portal runs (Settings → Web): what the preview draws."""
        return target(self.portal.config.web.target)

    def _refresh(self) -> None:
        params = self.current()
        values = params.to_dict()
        layer = self.defaults if self.scope == GLOBAL else self.user_layer
        editable = self.scope == GLOBAL or (self.user_id is not None and self._user_loaded)
        ignored = self.target.ignored()
        for name, row in self.rows.items():
            row.show(values[name], name in layer)
            row.set_ignored(ignored.get(name))
            row.widget.setEnabled(editable and name not in ignored)
        if self.scope == GLOBAL:
            self.scope_hint.setText("Editing the defaults every user without an override gets.")
        elif self.user_id is None:
            self.scope_hint.setText("Select a user to tune their parameters.")
        elif not self._user_loaded:
            self.scope_hint.setText("Reading this user's parameters…")
        else:
            n = len(self.user_layer)
            self.scope_hint.setText(
                f"This user overrides {n} parameter{'s' if n != 1 else ''} (bold)." if n else
                "This user follows the global defaults; a change here becomes their override."
            )  # fmt: skip
        self.reset_button.setEnabled(editable)
        self.copy_button.setEnabled(self.scope == USER and self.user_id is not None and self._user_loaded)
        self.params_changed.emit(self.target.drawn(params))

    # --- actions ------------------------------------------------------------------------------------------

    def reset_layer(self) -> None:
        if self.scope == GLOBAL:
            self.undo.push(_LayerReplace(self, "reset global defaults", GLOBAL, {None: dict(self.defaults)}, {}))
        elif self.user_id is not None and self._user_loaded:
            self.undo.push(
                _LayerReplace(self, "reset user parameters", USER, {self.user_id: dict(self.user_layer)}, {})
            )

    def copy_to_selected(self) -> None:
        targets = [u for u in self.selected_ids() if u != self.user_id]
        if self.user_id is None or not self._user_loaded or not targets:
            self.message.emit("select the users to copy to (Ctrl/Shift+click), then Copy to selected")
            return
        layer = dict(self.user_layer)

        def before() -> dict[str | None, dict[str, Any]]:
            return {u: self._layers.get(u, read_user_layer(self.portal, u)) for u in targets}

        def push(previous: dict[str | None, dict[str, Any]]) -> None:
            self.undo.push(_LayerReplace(self, f"copy parameters to {len(targets)} users", USER, previous, layer))
            self.message.emit(f"copied this user's parameters to {len(targets)} selected users")

        self._tasks.submit(before, done=push, failed=lambda exc: self.message.emit(describe(exc)))

    def copy_web_props(self) -> None:
        """The target component's props for the selected user: the published map's URL, or before publishing the
        shown result as a local file (``web_images``)."""
        params, component, user_id = self.current(), self.target, self.user_id

        def copy(images: tuple[str | None, str | None]) -> None:
            props = component.props(params, *images)
            QGuiApplication.clipboard().setText(json.dumps(props, indent=2))
            self.message.emit(f"{component.name} props copied to the clipboard")

        def images() -> tuple[str | None, str | None]:
            row = self.portal.get_user(user_id) if user_id is not None else None
            return web_images(self.portal, row) if row is not None else (None, None)

        self._tasks.submit(images, done=copy, failed=lambda e: self.message.emit(describe(e)))

    def copy_jsx(self) -> None:
        """The [web] target's element for the shown user: its photo, its published map and the props the target
        reads (the user's row is read off the GUI thread)."""
        params, component, uid = self.current(), self.target, self.user_id

        def done(row: Any) -> None:
            avatar = row.avatar if row is not None else None
            props = component.props(params, avatar, row.depth_url or None if row is not None else None)
            if row is not None and row.name and component.plane is None:  # only DepthAvatar takes alt
                props["alt"] = row.name
            QGuiApplication.clipboard().setText(jsx_snippet(props, component.name))
            if row is None:
                self.message.emit("JSX copied (no user shown: add originalImg and depthImg)")
            elif not row.depth_url:
                self.message.emit("JSX copied: this user has no published depth map yet (the plain photo shows)")
            else:
                self.message.emit(f"{component.name} JSX copied to the clipboard")

        if uid is None:
            done(None)
            return
        self._tasks.submit(
            lambda: self.portal.get_user(uid), done=done, failed=lambda exc: self.message.emit(describe(exc))
        )

    # --- saving -------------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the changed layers now (the timer calls this after a pause in editing)."""
        self._save_timer.stop()
        dirty, self._dirty = self._dirty, set()
        writes: list[tuple[str | None, dict[str, Any]]] = [
            (u, dict(self.defaults if u is None else self._layers.get(u, {}))) for u in dirty
        ]
        if not writes:
            return

        def save() -> None:
            for user_id, layer in writes:
                if user_id is None:
                    write_defaults_layer(self.portal, layer, by=self.reviewer())
                else:
                    write_user_layers(self.portal, [user_id], layer, by=self.reviewer())

        self._writes.submit(
            save,
            failed=lambda exc: self.message.emit(f"parameters not saved: {describe(exc)}"),
        )

    @property
    def saving(self) -> bool:
        return bool(self._dirty) or self._writes.pending > 0
