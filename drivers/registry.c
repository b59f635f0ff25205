/*
 * registry.c - the static list of drivers.  Adding a driver is one line
 * here and one file (or folder) beside it.
 */
#include <string.h>

#include "driver.h"

extern const struct sg_driver sg_driver_sim;
extern const struct sg_driver sg_driver_gpio;
extern const struct sg_driver sg_driver_mqtt;
extern const struct sg_driver sg_driver_modbus;

const struct sg_driver *const sg_drivers[] = {
    &sg_driver_sim, &sg_driver_gpio, &sg_driver_mqtt, &sg_driver_modbus, NULL,
};

const struct sg_driver *sg_driver_find(const char *name)
{
	for (int i = 0; sg_drivers[i]; i++)
		if (!strcmp(sg_drivers[i]->name, name))
			return sg_drivers[i];
	return NULL;
}
