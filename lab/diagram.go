package lab

// The diagram: the lab as a picture — the core, the hosts, the Internet,
// the links between them and every workload with its addresses and
// space — with the last check's cells colour-coded: a workload outlined
// green when every cell it takes part in passed, red when one failed, and
// the matrix listed underneath, one coloured line per cell. One layout
// (a list of boxes, lines and texts) is drawn twice: as SVG written by
// hand and as PNG with image/draw and a bitmap font.

import (
	"fmt"
	"html"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"sort"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The drawing's scale: the bitmap font's cell, which the SVG's monospace
// text roughly matches.
const (
	charW    = 7
	lineH    = 15
	boxPad   = 6
	diagramW = 1280
)

var (
	colWhite  = color.RGBA{255, 255, 255, 255}
	colInk    = color.RGBA{33, 37, 41, 255}
	colGrey   = color.RGBA{134, 142, 150, 255}
	colPass   = color.RGBA{47, 158, 68, 255}
	colFail   = color.RGBA{224, 49, 49, 255}
	colCore   = color.RGBA{233, 236, 239, 255}
	colHost   = color.RGBA{208, 235, 255, 255}
	colBorder = color.RGBA{255, 236, 153, 255}
	colInet   = color.RGBA{243, 217, 250, 255}
	colFlat   = color.RGBA{231, 245, 255, 255}
	// Translated spaces cycle through these fills.
	colSpaces = []color.RGBA{{211, 249, 216, 255}, {255, 232, 204, 255}, {229, 219, 255, 255}}
)

// shape is one element of the drawing.
type shape struct {
	kind   byte // 'r' box, 'l' line, 't' text
	x, y   int  // top left (box), start (line), baseline start (text)
	w, h   int  // size (box), end point (line: x2, y2)
	fill   color.RGBA
	stroke color.RGBA
	width  int      // stroke width
	lines  []string // a box's text lines, or a text's one line
}

// Diagram is the lab laid out for drawing.
type Diagram struct {
	W, H   int
	shapes []shape
}

func (d *Diagram) box(x, y, w, h int, fill, stroke color.RGBA, width int, lines ...string) {
	d.shapes = append(d.shapes, shape{kind: 'r', x: x, y: y, w: w, h: h, fill: fill, stroke: stroke, width: width, lines: lines})
}

func (d *Diagram) line(x1, y1, x2, y2 int, c color.RGBA, width int) {
	d.shapes = append(d.shapes, shape{kind: 'l', x: x1, y: y1, w: x2, h: y2, stroke: c, width: width})
}

func (d *Diagram) text(x, y int, c color.RGBA, s string) {
	d.shapes = append(d.shapes, shape{kind: 't', x: x, y: y, stroke: c, lines: []string{s}})
}

// boxHeight fits n lines of text.
func boxHeight(n int) int { return n*lineH + 2*boxPad }

// Layout places the topology and, when rep is not nil, the check's
// results.
func Layout(t *Topology, routing Routing, rep *Report) *Diagram {
	d := &Diagram{W: diagramW}
	title := fmt.Sprintf("gannet lab: %d gannet hosts, %s routing", len(t.NodesWith(RoleCompute))+len(t.NodesWith(RoleBorder)), routing)
	if rep != nil {
		title += fmt.Sprintf("; last check: %d of %d cells as designed", len(rep.Cells)-len(rep.Failed()), len(rep.Cells))
	} else {
		title += "; not checked yet (gannet lab check)"
	}
	d.text(20, 28, colInk, title)

	// Which workloads and nodes took part in a failed or passed cell.
	status := map[string]int{} // 1 every cell passed, 2 one failed
	if rep != nil {
		for _, c := range rep.Cells {
			to, _, _ := strings.Cut(c.To, "@")
			for _, n := range []string{c.From, to} {
				if !c.Pass {
					status[n] = 2
				} else if status[n] == 0 {
					status[n] = 1
				}
			}
		}
	}
	outline := func(name string) (color.RGBA, int) {
		switch status[name] {
		case 1:
			return colPass, 3
		case 2:
			return colFail, 3
		}
		return colGrey, 1
	}

	// The core across the top.
	core, _ := t.Node("core")
	coreLines := []string{
		"core (" + core.Namespace() + "): bridge " + t.Bridge,
		t.CoreV6.String() + " (IPv6 only; IPv4 over IPv6 next hops)",
	}
	if routing == RoutingBGP {
		coreLines = append(coreLines, fmt.Sprintf("BIRD 2 route reflector, AS %d: %s", t.AS, t.RRv6), "router ID "+t.RRID.String())
	} else {
		coreLines = append(coreLines, "static routes (BIRD not installed)")
	}
	coreW := 60 * charW
	coreX, coreY := (diagramW-coreW)/2, 50
	coreH := boxHeight(len(coreLines))
	d.box(coreX, coreY, coreW, coreH, colCore, colGrey, 1, coreLines...)

	// The gannet hosts in a row, their workloads below them; the
	// Internet beside the border.
	hosts := append(t.NodesWith(RoleCompute), t.NodesWith(RoleBorder)...)
	colW := (diagramW - 40) / (len(hosts) + 1)
	hostY := coreY + coreH + 60
	bottom := hostY
	floating := map[string]string{}
	for _, f := range t.Floating {
		floating[f.Workload] = f.Public.String()
	}
	spaceFill := func(s uint16) color.RGBA {
		if s == 0 {
			return colFlat
		}
		ids := append([]uint16(nil), t.Spaces...)
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for i, id := range ids {
			if id == s {
				return colSpaces[i%len(colSpaces)]
			}
		}
		return colSpaces[len(colSpaces)-1]
	}
	hostBox := map[string][4]int{}
	for i, h := range hosts {
		x := 20 + i*colW + 10
		w := colW - 20
		fill := colHost
		if h.Role == RoleBorder {
			fill = colBorder
		}
		lines := []string{
			h.Name + " (" + h.Namespace() + "): gannet run, " + string(h.Role),
			t.Uplink + " " + h.IPv6.String(),
			"router " + h.IPv4.String(),
		}
		if h.Role == RoleBorder {
			lines = append(lines, fmt.Sprintf("%s %s; SNAT %s", t.ExternalIf, t.ExternalGW, t.SNATPool))
		}
		hh := boxHeight(len(lines))
		d.box(x, hostY, w, hh, fill, colInk, 1, lines...)
		hostBox[h.Name] = [4]int{x, hostY, w, hh}
		d.line(x+w/2, hostY, coreX+coreW/2, coreY+coreH, colInk, 2)
		y := hostY + hh + 30
		for _, wl := range t.On(h.Name) {
			lines := []string{wl.Name + " (" + wl.Namespace() + ")"}
			if wl.Space == 0 {
				lines = append(lines, "flat: "+wl.IPv4.String())
			} else {
				lines = append(lines, fmt.Sprintf("space %d: %s", wl.Space, wl.IPv4), "core: "+CoreAddress(wl.Space, wl.IPv4).String())
			}
			if wl.IPv6.IsValid() {
				lines = append(lines, wl.IPv6.String())
			}
			if f := floating[wl.Name]; f != "" {
				lines = append(lines, "floating IP "+f)
			}
			wh := boxHeight(len(lines))
			c, width := outline(wl.Name)
			d.line(x+12, y+wh/2, x+4, y+wh/2, colGrey, 1)
			d.line(x+4, y+wh/2, x+4, hostY+hh, colGrey, 1)
			d.box(x+12, y, w-12, wh, spaceFill(wl.Space), c, width, lines...)
			y += wh + 10
		}
		bottom = max(bottom, y)
	}
	for i, n := range t.NodesWith(RoleInternet) {
		x := 20 + len(hosts)*colW + 10
		w := colW - 20
		lines := []string{
			n.Name + " (" + n.Namespace() + "): the Internet",
			n.IPv4.String() + ", server " + n.Name,
			"routes to the border:",
			"  " + t.SNATPool.String() + " (SNAT)",
			"  " + t.FloatingPool.String() + " (floating)",
			"  " + t.Routable.String() + " (routable)",
		}
		y := hostY + i*150
		hh := boxHeight(len(lines))
		c, width := outline(n.Name)
		d.box(x, y, w, hh, colInet, c, width, lines...)
		if b, ok := hostBox["border"]; ok {
			d.line(b[0]+b[2], b[1]+b[3]/2, x, y+hh/2, colInk, 2)
		}
	}

	// The legend and the matrix.
	y := bottom + 20
	d.text(20, y, colInk, "fill: flat space (blue), translated spaces (green, orange); outline: every cell passed (green), a cell failed (red)")
	y += 2 * lineH
	if rep != nil {
		for _, c := range rep.Cells {
			col, mark := colPass, "pass"
			if !c.Pass {
				col, mark = colFail, "FAIL"
			}
			s := fmt.Sprintf("%s  %-19s %-4s -> %-22s %-12s expect %-9s observed %-9s", mark, c.Kind, c.From, c.To, c.Tool, c.Expect, c.Observed)
			if strings.HasPrefix(c.Tool, ToolTraceroute) {
				s = fmt.Sprintf("%s  %-19s %-4s -> %-22s %-12s hops %s", mark, c.Kind, c.From, c.To, c.Tool, c.Observed)
				if !c.Pass {
					s += " (want " + c.Expect + ")"
				}
			}
			if c.SeenSource != "" {
				s += " seen " + c.SeenSource
			}
			if c.Responder != "" {
				s += " by " + c.Responder
			}
			if !c.Pass && c.Reason != "" {
				s += ": " + c.Reason
			}
			d.text(20, y, col, clip(s, (diagramW-40)/charW))
			y += lineH
		}
	}
	d.H = y + 20
	return d
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "~"
}

func svgColor(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// WriteSVG draws d as SVG.
func (d *Diagram) WriteSVG(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans Mono, monospace" font-size="12">`+"\n", d.W, d.H, d.W, d.H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", d.W, d.H)
	for _, s := range d.shapes {
		switch s.kind {
		case 'r':
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="4" fill="%s" stroke="%s" stroke-width="%d"/>`+"\n", s.x, s.y, s.w, s.h, svgColor(s.fill), svgColor(s.stroke), s.width)
			for i, l := range s.lines {
				fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s</text>`+"\n", s.x+boxPad, s.y+boxPad+(i+1)*lineH-3, svgColor(colInk), html.EscapeString(l))
			}
		case 'l':
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%d"/>`+"\n", s.x, s.y, s.w, s.h, svgColor(s.stroke), s.width)
		case 't':
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s" xml:space="preserve">%s</text>`+"\n", s.x, s.y, svgColor(s.stroke), html.EscapeString(s.lines[0]))
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Image draws d as a bitmap.
func (d *Diagram) Image() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, d.W, d.H))
	draw.Draw(img, img.Bounds(), image.NewUniform(colWhite), image.Point{}, draw.Src)
	for _, s := range d.shapes {
		switch s.kind {
		case 'r':
			draw.Draw(img, image.Rect(s.x, s.y, s.x+s.w, s.y+s.h), image.NewUniform(s.stroke), image.Point{}, draw.Src)
			draw.Draw(img, image.Rect(s.x+s.width, s.y+s.width, s.x+s.w-s.width, s.y+s.h-s.width), image.NewUniform(s.fill), image.Point{}, draw.Src)
			for i, l := range s.lines {
				drawText(img, s.x+boxPad, s.y+boxPad+(i+1)*lineH-3, colInk, l)
			}
		case 'l':
			drawLine(img, s.x, s.y, s.w, s.h, s.stroke, s.width)
		case 't':
			drawText(img, s.x, s.y, s.stroke, s.lines[0])
		}
	}
	return img
}

// WritePNG draws d as PNG.
func (d *Diagram) WritePNG(w io.Writer) error { return png.Encode(w, d.Image()) }

func drawText(img *image.RGBA, x, y int, c color.RGBA, s string) {
	(&font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}).DrawString(s)
}

// drawLine is Bresenham's line, width pixels thick.
func drawLine(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, width int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		for i := 0; i < width; i++ {
			for j := 0; j < width; j++ {
				img.SetRGBA(x0+i-width/2, y0+j-width/2, c)
			}
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
