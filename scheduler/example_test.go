package scheduler_test

import (
	"fmt"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/scheduler"
)

// Next on the night the clocks go forward in London: 01:30 does not exist,
// so the occurrence runs at 02:00 BST, once.
func ExampleNext() {
	london, _ := time.LoadLocation("Europe/London")
	after := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	for range 3 {
		next, err := scheduler.Next("30 1 * * *", london, after)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(next.In(london).Format("Mon 2 Jan 15:04 MST"))
		after = next
	}
	// Output:
	// Sun 29 Mar 02:00 BST
	// Mon 30 Mar 01:30 BST
	// Tue 31 Mar 01:30 BST
}

// Defer moves a reminder due at 22:00 to the end of the quiet hours.
func ExampleDefer() {
	london, _ := time.LoadLocation("Europe/London")
	due := time.Date(2026, 12, 1, 22, 0, 0, 0, london)
	fmt.Println(scheduler.Defer(due, london, flows.DefaultQuietHours).Format("Mon 2 Jan 15:04"))
	// Output: Wed 2 Dec 09:00
}
