"""`opsgrat login`, `logout` and `whoami`: tokens saved in profiles (see `config`)."""
from __future__ import annotations

import click

from opsgrat_cli import commands, config
from opsgrat_cli.client import Client
from opsgrat_cli.context import App
from opsgrat_cli.errors import CliError


@commands.top
@click.command()
@click.option("--url", "login_url", help="The installation's URL (the API's base, e.g. https://…/api/ without /api/).")
@click.option("--username", "-u", help="Login name (prompted when not given).")
@click.option("--password", "-p", help="Password (prompted without echo when not given; OPSGRAT_PASSWORD works too).",
              envvar="OPSGRAT_PASSWORD")
@click.pass_obj
def login(app: App, login_url, username, password):
    """Get a token with a username and password and save it in a profile (--profile, else
    `default`), readable by you alone."""
    url = login_url or app.options["url"]
    if not url:
        found = config.local_stack()
        url = found[0] if found else click.prompt("URL")
    url = url.rstrip("/").removesuffix("/api")
    username = username or click.prompt("Username")
    password = password if password is not None else click.prompt("Password", hide_input=True)
    client = Client(config.Connection(url, "", "login"))
    answer = client.post("/api/auth/token/", {"username": username, "password": password})
    if not isinstance(answer, dict) or not answer.get("token"):
        raise CliError(f"{url} did not answer with a token; is it an OpsGrat Serverless API?")
    name = app.options["profile"] or config.DEFAULT_PROFILE
    path = config.save_profile(name, url, answer["token"], username)
    click.echo(f"Logged in to {url} as {username}; profile {name!r} saved in {path}")


@commands.top
@click.command()
@click.pass_obj
def logout(app: App):
    """Forget the profile's token (--profile, else `default`)."""
    name = app.options["profile"] or config.DEFAULT_PROFILE
    click.echo(f"profile {name!r} removed" if config.remove_profile(name) else f"no profile {name!r}")


@commands.top
@click.command()
@click.pass_obj
def whoami(app: App):
    """The user the connection acts as, and where the connection came from."""
    me = app.client.get("/api/auth/me/")
    click.echo(f"{me.get('username')} (id {me.get('id')}{', superuser' if me.get('is_superuser') else ''}) "
               f"at {app.connection.url} ({app.connection.source})")
