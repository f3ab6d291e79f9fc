"""awslambdaric's stdout and stderr write through at once: each piece is written as is."""

import sys
import time


def handler(event, context):
    for stream, text in event["pieces"]:
        (sys.stdout if stream == "out" else sys.stderr).write(text)
        time.sleep(0.03)  # each piece is read before the next is written
    return {"written": len(event["pieces"])}
