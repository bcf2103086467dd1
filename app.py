"""OpsGrat Serverless: the Chalice app. This file only wires blueprints and event handlers."""
from chalice import Chalice

from chalicelib.api import auth, dashboard, job, notification, openapi, project, sync, system, template
from chalicelib.stack import STACK

app = Chalice(app_name="opsgrat")
# archive uploads (POST /api/project/project/{id}/upload/) are bytes: API Gateway passes them base64-encoded
app.api.binary_types = sorted({*app.api.binary_types, *project.ARCHIVE_CONTENT_TYPES})

for blueprint in (auth.bp, system.bp, project.bp, sync.bp, template.bp, job.bp, notification.bp, dashboard.bp, openapi.bp):
    app.register_blueprint(blueprint)


@app.on_sqs_message(queue=STACK.queue("dispatch").name, batch_size=STACK.queue("dispatch").batch_size)
def dispatch_job(event):
    """RunJob executions hand jobs over here: start runners, settle failed executions."""
    from chalicelib.api.events import dispatch_batch

    return dispatch_batch(event)


@app.on_sqs_message(queue=STACK.queue("workflow").name, batch_size=STACK.queue("workflow").batch_size)
def workflow_step(event):
    """Workflow executions hand their nodes over here: run, skip or wait for each; finish the run."""
    from chalicelib.api.events import workflow_batch

    return workflow_batch(event)


@app.on_sqs_message(queue=STACK.queue("launch").name, batch_size=STACK.queue("launch").batch_size)
def scheduled_launch(event):
    """EventBridge Scheduler (the local ticker) sends due schedules here: launch each due time once."""
    from chalicelib.api.events import launch_batch

    return launch_batch(event)


@app.on_sqs_message(queue=STACK.queue("notify").name, batch_size=STACK.queue("notify").batch_size)
def notify(event):
    """Job state events from the event bus: send the notifications bound to the job's template."""
    from chalicelib.api.events import notify_batch

    return notify_batch(event)
