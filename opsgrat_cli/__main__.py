from opsgrat_cli.main import run

run()
