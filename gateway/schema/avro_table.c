/*
 * avro_table.c - the one symbol sensorgate-avro.so exports: its table
 * (avro_module.h), with the version of the build that made it.
 */
#include "avro_module.h"

const struct sg_avro_module sg_avro_module = {
    .head = {.abi = SG_AVRO_MODULE_ABI,
	     .size = sizeof(struct sg_avro_module),
	     .version = SG_VERSION},
    .enc_new = sg_avro_enc_new,
    .enc_free = sg_avro_enc_free,
    .enc_render = sg_avro_enc_render,
    .dec_new = sg_avro_dec_new,
    .dec_free = sg_avro_dec_free,
    .dec_text = sg_avro_dec_text,
};
