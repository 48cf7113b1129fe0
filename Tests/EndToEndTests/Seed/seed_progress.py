# The seed README's progress consumer (Usage step 3), verbatim after the connection lines
# of step 2 (step 3 uses the `channel` of step 2, which step 2 closes). Runs until killed.
import json
import pika

credentials = pika.PlainCredentials("guest", "guest")
connection = pika.BlockingConnection(
    pika.ConnectionParameters("localhost", 5672, "/", credentials)
)
channel = connection.channel()

def on_progress(ch, method, properties, body):
    progress_data = json.loads(body)
    print(f"Job {progress_data['job_id']}: {progress_data['progress']}%")

channel.basic_consume(
    queue="transcoding_progress",
    on_message_callback=on_progress,
    auto_ack=True,
)

channel.start_consuming()
