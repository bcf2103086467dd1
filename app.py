"""OpsGrat Serverless: the Chalice app. This file only wires blueprints and event handlers."""
from chalice import Chalice

from chalicelib.api import auth, openapi, project, system

app = Chalice(app_name="opsgrat")
app.experimental_feature_flags.update(["BLUEPRINTS"])

for blueprint in (auth.bp, system.bp, project.bp, openapi.bp):
    app.register_blueprint(blueprint)
