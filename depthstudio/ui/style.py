"""The studio's look: a dark, low-contrast frame so the avatar is the brightest thing on screen."""

STYLESHEET = """
QMainWindow, QWidget { background: #1f2125; color: #dfe2e6; }
QWidget#filterBar { background: #181a1d; border-bottom: 1px solid #2c2f34; }
QLabel#userTitle { font-size: 15pt; font-weight: 600; padding: 6px 4px 0 4px; }
QLabel#sectionTitle { font-size: 12pt; font-weight: 600; padding-bottom: 4px; }
QLabel#hint { color: #9aa0a8; padding: 2px 4px; }
QToolButton#chip, QPushButton#chip {
    background: #2a2d32; border: 1px solid #373b41; border-radius: 12px; padding: 4px 10px; color: #cfd3d8;
}
QToolButton#chip:hover, QPushButton#chip:hover { background: #33373d; }
QToolButton#chip:checked, QPushButton#chip:checked { background: #3d6fd1; border-color: #4f7fe0; color: white; }
QToolButton#chip:disabled { color: #5d6168; }
QPushButton {
    background: #2d3036; border: 1px solid #3a3e45; border-radius: 5px; padding: 5px 12px; color: #dfe2e6;
}
QPushButton:hover { background: #363a41; }
QPushButton:pressed { background: #25282c; }
QPushButton:disabled { color: #61656c; }
QPushButton#approve { background: #2f7d45; border-color: #3a9154; color: white; }
QPushButton#approve:hover { background: #37904f; }
QPushButton#reject { background: #9c3b38; border-color: #b14542; color: white; }
QPushButton#reject:hover { background: #b04441; }
QLineEdit, QComboBox, QSpinBox, QDoubleSpinBox {
    background: #16181b; border: 1px solid #3a3e45; border-radius: 4px; padding: 3px 6px; color: #e6e8eb;
    selection-background-color: #3d6fd1;
}
QListView, QTreeWidget, QScrollArea { background: #1a1c1f; border: none; }
QListWidget#history::item { padding: 3px 8px; color: #b9bec5; }
QListView::item:selected { background: #2f4f8f; }
QSplitter::handle { background: #2c2f34; width: 1px; }
QSlider::groove:horizontal { height: 4px; background: #3a3e45; border-radius: 2px; }
QSlider::sub-page:horizontal { background: #3d6fd1; border-radius: 2px; }
QSlider::handle:horizontal { background: #e6e8eb; width: 14px; margin: -6px 0; border-radius: 7px; }
QProgressBar {
    background: #16181b; border: 1px solid #3a3e45; border-radius: 4px; text-align: center; color: #e6e8eb;
    min-height: 20px;
}
QProgressBar::chunk { background: #3d6fd1; border-radius: 3px; }
QScrollBar:vertical { background: #1a1c1f; width: 10px; margin: 0; }
QScrollBar::handle:vertical { background: #3a3e45; border-radius: 5px; min-height: 30px; }
QScrollBar::handle:vertical:hover { background: #4a4f57; }
QScrollBar:horizontal { background: #1a1c1f; height: 10px; margin: 0; }
QScrollBar::handle:horizontal { background: #3a3e45; border-radius: 5px; min-width: 30px; }
QScrollBar::handle:horizontal:hover { background: #4a4f57; }
QScrollBar::add-line, QScrollBar::sub-line { height: 0; width: 0; }
QScrollBar::add-page, QScrollBar::sub-page { background: none; }
QHeaderView::section { background: #24272b; color: #aab0b8; border: none; padding: 3px 6px; }
QStatusBar { background: #181a1d; color: #aab0b8; }
QTabWidget::pane { border: 1px solid #2c2f34; }
QTabBar::tab { background: #24272b; padding: 6px 14px; border: 1px solid #2c2f34; }
QTabBar::tab:selected { background: #2f3338; }
QCheckBox::indicator { width: 14px; height: 14px; border: 1px solid #5a5f67; border-radius: 3px; background: #16181b; }
QCheckBox::indicator:checked { background: #3d6fd1; border-color: #4f7fe0; }
/* The keyboard's place, visible at a glance: an amber ring on whatever has the focus (same width as the border,
   so nothing moves when the focus does). */
QPushButton:focus, QToolButton:focus, QComboBox:focus, QLineEdit:focus, QSpinBox:focus, QDoubleSpinBox:focus {
    border: 1px solid #ffb020;
}
QListView:focus, QListWidget:focus, QTreeWidget:focus { border: 1px solid #ffb020; }
QSlider:focus { background: #2a2d32; border-radius: 3px; }
QSlider::handle:horizontal:focus { background: #ffb020; }
QCheckBox:focus { color: #ffb020; }
"""
