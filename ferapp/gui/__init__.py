"""Qt desktop GUI (PySide6 + pyqtgraph). The only package that imports Qt.

Entry points: ``ferapp.gui.app.run_gui`` / ``add_gui_arguments``; ``MainWindow`` in main_window.py.
"""
