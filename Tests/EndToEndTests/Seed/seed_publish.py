# The seed README's job publisher, verbatim (../shared/seed/README.md, Usage step 2).
import json
import pika

credentials = pika.PlainCredentials("guest", "guest")
connection = pika.BlockingConnection(
    pika.ConnectionParameters("localhost", 5672, "/", credentials)
)
channel = connection.channel()

job_data = {
    "job_id": "job1",
    "input_key": "path/to/input_file",
    "output_key": "path/to/output_file",
    "transcode_options": "videoconvert ! x264enc",
}

channel.basic_publish(
    exchange="",
    routing_key="transcoding_jobs",
    body=json.dumps(job_data),
)

connection.close()
