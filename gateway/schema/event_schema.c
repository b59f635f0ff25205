/*
 * event_schema.c - the event schema built into the gateway: the text of
 * gateway/schema/sensorgate.avsc, byte for byte (tests/unit/test_avro.c
 * compares the two, so the file in the repository is what is registered).
 * Edit the .avsc and paste it here as one literal per line.
 */
#include "avro_codec.h"

const char sg_avro_event_schema[] =
    "{\n"
    "  \"type\": \"record\",\n"
    "  \"name\": \"Event\",\n"
    "  \"namespace\": \"sensorgate\",\n"
    "  \"doc\": \"One reading of one sensor, as sensorgate produces it with kafka.format: avro "
    "(docs/events.md).\",\n"
    "  \"fields\": [\n"
    "    {\"name\": \"id\", \"type\": \"string\", \"doc\": \"The event id <gateway>:<seq>, same as "
    "the sg-id header.\"},\n"
    "    {\"name\": \"seq\", \"type\": \"long\", \"doc\": \"The seq part of the id: grows by one "
    "per event of a gateway, also across restarts.\"},\n"
    "    {\"name\": \"gateway\", \"type\": \"string\", \"doc\": \"gateway.id when the event was "
    "read.\"},\n"
    "    {\"name\": \"source\", \"type\": \"string\", \"doc\": \"The source (driver instance) "
    "name.\"},\n"
    "    {\"name\": \"sensor\", \"type\": \"string\", \"doc\": \"The sensor id, same as the record "
    "key.\"},\n"
    "    {\"name\": \"time\", \"type\": {\"type\": \"long\", \"logicalType\": "
    "\"timestamp-micros\"}, \"doc\": \"Event time, microseconds since the Unix epoch (UTC).\"},\n"
    "    {\"name\": \"time_ns\", \"type\": \"long\", \"doc\": \"Event time, nanoseconds since the "
    "Unix epoch: the exact value.\"},\n"
    "    {\"name\": \"value\", \"type\": [\"null\", \"double\", \"long\", \"boolean\", \"string\", "
    "\"bytes\"], \"doc\": \"The reading; null when there is none. A uint above 2^63-1 is its "
    "decimal string.\"},\n"
    "    {\"name\": \"type\", \"type\": {\"type\": \"enum\", \"name\": \"ValueType\", \"symbols\": "
    "[\"none\", \"double\", \"int\", \"uint\", \"bool\", \"string\", \"bytes\"], \"default\": "
    "\"none\"}, \"doc\": \"The reading's type, as the driver gave it.\"},\n"
    "    {\"name\": \"unit\", \"type\": [\"null\", \"string\"], \"default\": null, \"doc\": \"Unit "
    "text from the configuration.\"},\n"
    "    {\"name\": \"quality\", \"type\": {\"type\": \"enum\", \"name\": \"Quality\", "
    "\"symbols\": [\"good\", \"uncertain\", \"bad\"], \"default\": \"uncertain\"}, \"doc\": "
    "\"good, uncertain or bad.\"},\n"
    "    {\"name\": \"reason\", \"type\": [\"null\", \"string\"], \"default\": null, \"doc\": "
    "\"Why the quality is not good.\"},\n"
    "    {\"name\": \"attrs\", \"type\": {\"type\": \"map\", \"values\": \"string\"}, \"default\": "
    "{}, \"doc\": \"String attributes from the driver.\"}\n"
    "  ]\n"
    "}\n";
