def handler(event, context):
    return {"runtime": "lambdakit via bootstrap", "event": event}
