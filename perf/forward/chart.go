// Chart: the report as a PNG a person can look at — one horizontal bar per
// scenario (median Mpps delivered at the sink) with a min-max whisker,
// coloured by role, skipped scenarios named with the word "skipped".

package forward

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

const (
	chartWidth  = 960
	chartLabelW = 260 // room for scenario names
	chartValueW = 150 // room for the value right of the longest bar
	chartRowH   = 26
	chartTop    = 52
	chartBottom = 30
)

var (
	colBackground = color.RGBA{255, 255, 255, 255}
	colText       = color.RGBA{20, 20, 20, 255}
	colGrid       = color.RGBA{225, 225, 225, 255}
	colWhisker    = color.RGBA{40, 40, 40, 255}
	roleColours   = map[Role]color.RGBA{
		RoleBaseline: {120, 120, 120, 255},
		RoleCeiling:  {90, 150, 90, 255},
		RolePeer:     {80, 120, 190, 255},
		RoleGannet:   {220, 120, 30, 255},
	}
)

// WritePNG draws the chart.
func (rep *Report) WritePNG(w io.Writer) error {
	return png.Encode(w, rep.Chart())
}

// Chart returns the chart as an image.
func (rep *Report) Chart() *image.RGBA {
	h := chartTop + chartBottom + chartRowH*max(len(rep.Rows), 1)
	img := image.NewRGBA(image.Rect(0, 0, chartWidth, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(colBackground), image.Point{}, draw.Src)
	var top float64
	for _, r := range rep.Rows {
		if r.Ran() {
			top = max(top, r.RxPPS.Max, r.RxPPS.Median)
		}
	}
	if top == 0 {
		top = 1
	}
	plotW := chartWidth - chartLabelW - chartValueW
	x0 := chartLabelW
	scale := func(v float64) int { return x0 + int(v/top*float64(plotW)) }
	text(img, 10, 18, "gannet bench forward: packets per second delivered at the sink (median, min-max whisker)")
	text(img, 10, 36, clip(fmt.Sprintf("%s; generator CPU %d, DUT CPU %d", rep.Setup.Packets, rep.Setup.GenCPU, rep.Setup.DUTCPU), (chartWidth-20)/7))
	// Vertical grid lines at round Mpps steps.
	step := gridStep(top)
	for v := 0.0; v <= top*1.0001; v += step {
		x := scale(v)
		fill(img, x, chartTop-4, 1, h-chartTop-chartBottom+4, colGrid)
		text(img, x-8, h-chartBottom+16, fmt.Sprintf("%.2g", v/1e6))
	}
	text(img, chartWidth-chartValueW+10, h-chartBottom+16, "Mpps")
	for i, r := range rep.Rows {
		y := chartTop + i*chartRowH
		text(img, 10, y+chartRowH/2+4, clip(r.Name, (chartLabelW-20)/7))
		if !r.Ran() {
			text(img, x0+4, y+chartRowH/2+4, "skipped")
			continue
		}
		c, ok := roleColours[r.Role]
		if !ok {
			c = roleColours[RolePeer]
		}
		bw := scale(r.RxPPS.Median) - x0
		fill(img, x0, y+4, max(bw, 1), chartRowH-8, c)
		// Whisker: min..max with end ticks.
		lo, hi := scale(r.RxPPS.Min), scale(r.RxPPS.Max)
		mid := y + chartRowH/2
		fill(img, lo, mid, max(hi-lo, 1), 1, colWhisker)
		fill(img, lo, mid-4, 1, 9, colWhisker)
		fill(img, hi, mid-4, 1, 9, colWhisker)
		label := Mpps(r.RxPPS.Median)
		if r.VsBaseline > 0 {
			label += fmt.Sprintf(" (%.2fx linux)", r.VsBaseline)
		}
		text(img, max(hi, scale(r.RxPPS.Median))+6, mid+4, label)
	}
	return img
}

// gridStep picks 0.1, 0.2, 0.25, 0.5, 1 ... Mpps so that about five lines fit.
func gridStep(top float64) float64 {
	for _, s := range []float64{1e4, 2e4, 5e4, 1e5, 2e5, 2.5e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7} {
		if top/s <= 6 {
			return s
		}
	}
	return 1e8
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "~"
}

func fill(img *image.RGBA, x, y, w, h int, c color.RGBA) {
	draw.Draw(img, image.Rect(x, y, x+w, y+h), image.NewUniform(c), image.Point{}, draw.Src)
}

func text(img *image.RGBA, x, y int, s string) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(colText), Face: basicfont.Face7x13,
		Dot: fixed.P(x, y)}
	d.DrawString(s)
}
