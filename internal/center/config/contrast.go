package config

import (
	"math"
	"strconv"
)

// contrastWithWhite is the WCAG 2 contrast ratio of white text on the hex
// colour #rrggbb.
func contrastWithWhite(hex string) float64 {
	lum := 0.0
	for i, weight := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		lum += weight * c
	}
	return 1.05 / (lum + 0.05)
}
