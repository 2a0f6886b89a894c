from ferapp.cli import run

run()
