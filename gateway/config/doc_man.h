/*
 * doc_man.h - the configuration reference as the man page
 * sensorgate.yaml(5), from the same key tables as docs/config.md
 * (`sensorgate config-doc --man`; the Debian package installs it).
 */
#ifndef SG_CONFIG_DOC_MAN_H
#define SG_CONFIG_DOC_MAN_H

#include <stdio.h>

/* Write the whole page (man(7) macros) to fp: every section, the common
 * source keys and each driver's keys.  Any thread; no state. */
void sg_conf_doc_man(FILE *fp);

#endif
