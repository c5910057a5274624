"""Running a battery: the items of a plugin, their scheduling on fork servers, reruns and the probe."""
